// Handlers of GET /health, GET /metrics and GET /v1/models.
#pragma once

#include <httplib.h>

#include "server/server_context.h"

namespace strata::server {

void handle_health(const ServerContext& ctx, httplib::Response& res);
void handle_metrics(const ServerContext& ctx, httplib::Response& res);
void handle_models(const ServerContext& ctx, httplib::Response& res);

}  // namespace strata::server
