// ServerOptions (the HTTP settings of `strata serve`) and ServerContext, what every route handler
// shares: the model, the generator, the settings, the metrics.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>

#include "engine/generation_service.h"
#include "server/metrics.h"
#include "server/model_info.h"

namespace strata::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                    // 0: any free port (the log line and port() tell which)
  std::string api_key;                // empty: no authentication
  int request_timeout_s = 600;        // a generation still running after this is cancelled
  size_t max_body_bytes = size_t{16} << 20;
  int read_timeout_s = 10;            // a started request whose bytes stop coming is dropped
  int write_timeout_s = 30;           // a client that stops reading is dropped
  int keep_alive_timeout_s = 5;       // an idle connection (or one that sends nothing) is closed
  size_t max_http_threads = 1024;     // connections served at once; more wait for a thread
  int retry_after_s = 1;              // Retry-After of 503 replies
};

struct ServerContext {
  const ModelInfo& model;
  engine::GenerationService& generator;
  const ServerOptions& options;
  Metrics& metrics;
  const std::atomic<bool>& stopping;  // set when the server shuts down: streams end
};

}  // namespace strata::server
