// Handlers of the generating endpoints, POST /v1/chat/completions and POST /v1/completions,
// streamed (SSE) or not.
#pragma once

#include <httplib.h>

#include <string>

#include "server/client_probe.h"
#include "server/server_context.h"

namespace strata::server {

// `client` lets a non-streamed reply notice a client that hung up and cancel its generation.
void handle_chat_completions(const ServerContext& ctx, const std::string& body, const ClientProbe& client,
                             httplib::Response& res);
void handle_completions(const ServerContext& ctx, const std::string& body, const ClientProbe& client,
                        httplib::Response& res);

}  // namespace strata::server
