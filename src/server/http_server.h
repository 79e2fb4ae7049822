// HttpServer: the OpenAI-compatible HTTP front of `strata serve` (cpp-httplib): routes, auth,
// CORS, request ids, body limits, timeouts, metrics, the chat page. Generation goes through a
// engine::GenerationService; the server never produces tokens itself.
#pragma once

#include <memory>

#include "core/status.h"
#include "engine/generation_service.h"
#include "server/model_info.h"
#include "server/server_context.h"

namespace strata::server {

class HttpServer {
 public:
  // `generator` must outlive the server.
  HttpServer(ModelInfo model, engine::GenerationService& generator, ServerOptions options);
  ~HttpServer();  // stops and joins
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds options.host:options.port (port 0: a free port) and logs
  // "listening on http://HOST:PORT". Errors: bad host, port in use.
  Status bind();
  int port() const;  // the bound port, after bind()

  // Serves until stop(); bind() first.
  Status run();
  // bind() (if not yet) and run() on a background thread; returns once listening.
  Status start();
  // Stops accepting, ends running streams, and returns when every connection is closed.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::server
