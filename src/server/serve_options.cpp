// `strata serve` flags and their checks (see serve_options.h).
#include "server/serve_options.h"

#include <cstdlib>

#include "server/model_info.h"

namespace strata::server {

void add_serve_flags(CLI::App& app, ServeOptions& o) {
  app.add_option("-m,--model", o.model, "GGUF model file (default: the built-in demo model)");
  app.add_option("--host", o.host, "address to listen on")->capture_default_str();
  app.add_option("--port", o.port, "port to listen on; 0 picks a free one")->capture_default_str();
  app.add_option("-c,--ctx-size", o.ctx_size,
                 "context cells (default: the training context, at most 4096; 0: the training context)");
  app.add_option("--parallel", o.parallel, "(-np) slots: requests generated at the same time")->capture_default_str();
  app.add_option("--cache-type-k", o.cache_type_k, "(-ctk) K cache type")->capture_default_str();
  app.add_option("--cache-type-v", o.cache_type_v, "(-ctv) V cache type")->capture_default_str();
  app.add_option("--flash-attn", o.flash_attn, "(-fa) flash attention: on, off or auto")->capture_default_str();
  app.add_option("-t,--threads", o.threads, "CPU threads for generation (default: all)");
  app.add_option("--n-gpu-layers", o.n_gpu_layers,
                 "(-ngl) the last N layers on the GPU(s), the rest on the CPU; 0: CPU only, 999: all")
      ->capture_default_str();
  app.add_option("--device", o.device,
                 "auto, cpu, or the GPUs for -ngl's layers as a comma list (cuda:0,cuda:1); auto: cuda:0, or "
                 "cuda:0..k-1 for k -ts ratios")
      ->capture_default_str();
  app.add_option("--chat-template-file", o.chat_template_file, "Jinja chat template replacing the model's");
  app.add_option("--api-key", o.api_key, "require 'Authorization: Bearer KEY' (default: $STRATA_API_KEY)");
  app.add_option("--alias", o.alias, "model name in replies and /v1/models (default: the file name)");
  app.add_option("--timeout", o.timeout_s, "seconds a request may run before it is cancelled")->capture_default_str();
  app.add_option("--queue-size", o.queue_size, "requests that may wait for a slot; more get HTTP 503")
      ->capture_default_str();
  app.add_option("-b,--batch-size", o.batch_size, "most tokens one step of the model takes (prompt chunks and "
                 "decoding slots together)")->capture_default_str();
  app.add_option("--prefill-chunk", o.prefill_chunk, "prompt tokens prefilled per step while other slots are "
                 "generating (smaller: steadier streams, slower first token)")->capture_default_str();
  app.add_option("--reasoning-format", o.reasoning_format,
                 "reasoning_content from <think> blocks: auto (when the template has them), deepseek, none")
      ->capture_default_str();
  app.add_option("--threads-http", o.threads_http, "HTTP connections served at the same time")->capture_default_str();
  app.add_option("--max-body-mb", o.max_body_mb, "largest request body in MiB")->capture_default_str();
}

Status finish_serve_options(ServeOptions& o) {
  if (o.api_key.empty()) {
    if (const char* env = std::getenv("STRATA_API_KEY"); env != nullptr) o.api_key = env;
  }
  if (o.host.empty()) return invalid_argument("--host is empty; give an address such as 127.0.0.1 or 0.0.0.0");
  if (o.port < 0 || o.port > 65535) return invalid_argument("--port {} is out of range; use 1 to 65535, or 0 for any free port", o.port);
  if (o.ctx_size && (*o.ctx_size < 0 || *o.ctx_size > (int64_t{1} << 24))) {
    return invalid_argument("-c {} is out of range; give 0 (the training context) up to {} cells", *o.ctx_size,
                            int64_t{1} << 24);
  }
  if (o.parallel < 1 || o.parallel > 256) return invalid_argument("-np {} is out of range; use 1 to 256 slots", o.parallel);
  if (o.flash_attn != "on" && o.flash_attn != "off" && o.flash_attn != "auto" && o.flash_attn != "1" &&
      o.flash_attn != "0") {
    return invalid_argument("-fa '{}' is not a flash attention setting; use on, off or auto", o.flash_attn);
  }
  if (o.threads < 0) return invalid_argument("-t {} is negative; give a number of threads, or 0 for every CPU", o.threads);
  if (o.timeout_s < 1 || o.timeout_s > 86400) {
    return invalid_argument("--timeout {} is out of range; use 1 to 86400 seconds", o.timeout_s);
  }
  if (o.queue_size < 0 || o.queue_size > 100000) {
    return invalid_argument("--queue-size {} is out of range; use 0 (no waiting) to 100000", o.queue_size);
  }
  if (o.batch_size < 2 || o.batch_size > 65536) {
    return invalid_argument("-b {} is out of range; use 2 to 65536 tokens", o.batch_size);
  }
  if (o.batch_size <= o.parallel) {
    return invalid_argument("-b {} leaves no room for prompts beside -np {} decoding slots; use -b {} or more",
                            o.batch_size, o.parallel, o.parallel + 1);
  }
  if (o.prefill_chunk < 1 || o.prefill_chunk > o.batch_size) {
    return invalid_argument("--prefill-chunk {} is out of range; use 1 to -b ({})", o.prefill_chunk, o.batch_size);
  }
  if (o.threads_http < 8 || o.threads_http > 16384) {
    return invalid_argument("--threads-http {} is out of range; use 8 to 16384", o.threads_http);
  }
  if (o.max_body_mb < 1 || o.max_body_mb > 1024) {
    return invalid_argument("--max-body-mb {} is out of range; use 1 to 1024", o.max_body_mb);
  }
  if (auto format = parse_reasoning_format(o.reasoning_format); !format.ok()) {
    return format.status().with_context("--reasoning-format");
  }
  return {};
}

ServerOptions to_server_options(const ServeOptions& o) {
  ServerOptions s;
  s.host = o.host;
  s.port = static_cast<int>(o.port);
  s.api_key = o.api_key;
  s.request_timeout_s = static_cast<int>(o.timeout_s);
  s.max_http_threads = static_cast<size_t>(o.threads_http);
  s.max_body_bytes = static_cast<size_t>(o.max_body_mb) << 20;
  return s;
}

}  // namespace strata::server
