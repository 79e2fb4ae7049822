// /health, /metrics and /v1/models (see status_routes.h).
#include "server/status_routes.h"

#include "server/http_reply.h"

namespace strata::server {

void handle_health(const ServerContext& ctx, httplib::Response& res) {
  const engine::HealthState health = ctx.generator.health();
  Json body;
  switch (health.status) {
    case engine::HealthState::Status::kOk: body["status"] = "ok"; break;
    case engine::HealthState::Status::kLoading: body["status"] = "loading"; break;
    case engine::HealthState::Status::kDegraded: body["status"] = "degraded"; break;
  }
  if (!health.reason.empty()) body["reason"] = health.reason;
  send_json(res, body, health.status == engine::HealthState::Status::kOk ? 200 : 503);
}

void handle_metrics(const ServerContext& ctx, httplib::Response& res) {
  res.status = 200;
  res.set_content(ctx.metrics.render(ctx.generator.stats()), "text/plain; version=0.0.4; charset=utf-8");
}

void handle_models(const ServerContext& ctx, httplib::Response& res) {
  Json model;
  model["id"] = ctx.model.id;
  model["object"] = "model";
  model["created"] = ctx.model.created;
  model["owned_by"] = "strata";
  Json body;
  body["object"] = "list";
  body["data"] = Json::array({std::move(model)});
  send_json(res, body);
}

}  // namespace strata::server
