// ServeOptions: the settings of `strata serve`, read from llama-server's command-line flags,
// checked, and turned into the HTTP server's settings.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"
#include "server/server_context.h"

namespace strata::server {

struct ServeOptions {
  std::string model;                   // -m; empty: the built-in demo model
  std::string host = "127.0.0.1";
  int64_t port = 8080;                 // 0: any free port
  std::optional<int64_t> ctx_size;     // -c; absent: the training context, at most 4096; 0: the training context
  int64_t parallel = 1;                // -np: slots (requests generated at once)
  std::string cache_type_k = "f16";    // -ctk
  std::string cache_type_v = "f16";    // -ctv
  std::string flash_attn = "auto";     // -fa: on, off, auto
  int64_t threads = 0;                 // -t; 0: every CPU
  int64_t n_gpu_layers = 0;            // -ngl: the last N layers on the GPU(s); 0 = CPU only
  std::string device = "auto";         // --device: auto, cpu, or GPUs as a comma list (cuda:0,cuda:1)
  std::string chat_template_file;      // replaces the GGUF's template
  std::string api_key;                 // --api-key, else $STRATA_API_KEY
  std::string alias;                   // the model's name in replies and /v1/models
  int64_t timeout_s = 600;             // --timeout: per-request limit
  int64_t queue_size = 64;             // requests that may wait for a slot; more get 503
  int64_t batch_size = 512;            // -b: most tokens one step of the model takes
  int64_t prefill_chunk = 128;         // prompt tokens per step while other slots decode
  std::string reasoning_format = "auto";
  int64_t threads_http = 1024;         // connections served at once
  int64_t max_body_mb = 16;
};

// Declares the flags on `app` (the `serve` subcommand), writing into `options`.
// llama.cpp's multi-letter short flags (-np, -ctk, -ctv, -fa) reach it as their long forms.
void add_serve_flags(CLI::App& app, ServeOptions& options);

// Fills the API key from $STRATA_API_KEY when --api-key is absent, and checks every range
// that needs no model file (cache types and thread limits are the engine's to check).
Status finish_serve_options(ServeOptions& options);

ServerOptions to_server_options(const ServeOptions& options);

}  // namespace strata::server
