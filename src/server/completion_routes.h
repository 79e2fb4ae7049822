// Handlers of the generating endpoints, POST /v1/chat/completions and POST /v1/completions,
// streamed (SSE) or not.
#pragma once

#include <httplib.h>

#include <string>

#include "server/server_context.h"

namespace strata::server {

void handle_chat_completions(const ServerContext& ctx, const std::string& body, httplib::Response& res);
void handle_completions(const ServerContext& ctx, const std::string& body, httplib::Response& res);

}  // namespace strata::server
