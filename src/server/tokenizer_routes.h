// Handlers of llama-server's POST /tokenize and POST /detokenize.
#pragma once

#include <httplib.h>

#include <string>

#include "server/server_context.h"

namespace strata::server {

void handle_tokenize(const ServerContext& ctx, const std::string& body, httplib::Response& res);
void handle_detokenize(const ServerContext& ctx, const std::string& body, httplib::Response& res);

}  // namespace strata::server
