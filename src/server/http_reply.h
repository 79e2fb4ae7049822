// Writing JSON replies and OpenAI-style errors into a cpp-httplib response.
#pragma once

#include <httplib.h>

#include "server/api_error.h"
#include "server/json_fields.h"

namespace strata::server {

void send_json(httplib::Response& res, const Json& body, int http_status = 200);
// The error body, its status, and Retry-After when the error asks for one.
void send_error(httplib::Response& res, const ApiError& error);
// The same, then the connection closes: for replies sent before the request's body was read,
// whose bytes would otherwise be taken for the next request.
void send_error_and_close(httplib::Response& res, const ApiError& error);

}  // namespace strata::server
