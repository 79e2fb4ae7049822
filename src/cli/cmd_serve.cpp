// `strata serve`: the OpenAI-compatible HTTP server (llama-server's flags). This file only
// composes the parts: model file -> backend -> model -> scheduler -> HTTP server, then waits
// for SIGINT/SIGTERM.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>

#include "cli/command.h"
#include "cli/compute_backend.h"
#include "cli/worker_flags.h"
#include "core/cache_dir.h"
#include "dist/distributed_model.h"
#include <spdlog/spdlog.h>
#include "engine/deferred_service.h"
#include "engine/end_tokens.h"
#include "engine/scheduler.h"
#include "gguf/file.h"
#include "kv/cache_type.h"
#include "kv/context_size.h"
#include "kv/kv_memory.h"
#include "model/hparams.h"
#include "model/model.h"
#include "model/synth.h"
#include "server/http_server.h"
#include "server/model_info.h"
#include "server/serve_options.h"

namespace strata::cli {
namespace {

constexpr std::string_view kDemoAlias = "strata-demo-random-weights";

Result<std::string> read_text_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open {} '{}'", what, path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return io_error("reading {} '{}' failed", what, path);
  return text.str();
}

// The built-in demo model: the tiny preset with random weights and the demo vocabulary, made
// once into the cache directory so `strata serve` works with no model file at all.
Result<std::string> demo_model_path() {
  const std::filesystem::path dir = user_cache_dir();
  const std::filesystem::path path = dir / "demo-tiny.gguf";
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return path.string();
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error("cannot create the cache directory '{}' for the demo model: {}", dir.string(), ec.message());
  spdlog::warn("generating the demo model at {} (random weights: its answers are gibberish; give -m FILE to serve a "
            "real model)",
            path.string());
  model::SynthOptions synth;
  STRATA_ASSIGN_OR_RETURN(synth.hparams, model::synth_preset("tiny", model::Arch::kLlama));
  STRATA_ASSIGN_OR_RETURN(synth.target, model::parse_quant_target("q8_0"));
  synth.seed = 1;
  synth.n_threads = std::max(1u, std::thread::hardware_concurrency());
  auto written = model::synth_model(synth, path);
  if (!written.ok()) return written.status().with_context("generating the demo model");
  return path.string();
}

// Blocks SIGINT and SIGTERM in this thread and every thread started after it, so that
// wait_for_stop_signal() receives them instead of the default handler killing the process
// in the middle of a response.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int wait_for_stop_signal(const sigset_t& set) {
  int signal = 0;
  while (sigwait(&set, &signal) != 0) {
  }
  return signal;
}

Status serve(server::ServeOptions& options, const WorkerFlags& worker_flags) {
  const sigset_t stop_signals = block_stop_signals();
  STRATA_TRY(server::finish_serve_options(options));
  STRATA_ASSIGN_OR_RETURN(const dist::CoordinatorOptions coordinator, coordinator_options(worker_flags));
  // The workers' connections and handshakes go on while the model file and tokenizer are read
  // (with a warm worker cache they are most of a start's extra time over a local load).
  std::future<Result<dist::WorkerClients>> connecting;
  if (!coordinator.workers.empty()) {
    connecting = std::async(std::launch::async, [&coordinator] { return dist::connect_workers(coordinator); });
  }
  auto type_k = kv::parse_cache_type(options.cache_type_k);
  if (!type_k.ok()) return type_k.status().with_context("-ctk");
  auto type_v = kv::parse_cache_type(options.cache_type_v);
  if (!type_v.ok()) return type_v.status().with_context("-ctv");

  server::ModelInfoOptions info_options;
  info_options.alias = options.alias;
  STRATA_ASSIGN_OR_RETURN(info_options.reasoning, server::parse_reasoning_format(options.reasoning_format));
  if (!options.chat_template_file.empty()) {
    STRATA_ASSIGN_OR_RETURN(info_options.template_source,
                            read_text_file(options.chat_template_file, "--chat-template-file"));
  }
  std::string path = options.model;
  if (path.empty()) {
    STRATA_ASSIGN_OR_RETURN(path, demo_model_path());
    if (info_options.alias.empty()) info_options.alias = kDemoAlias;
    spdlog::warn("serving the built-in demo model {} (random weights); give -m FILE to serve a real model", path);
  }
  auto file = gguf::File::open(path);
  if (!file.ok()) return file.status();
  STRATA_ASSIGN_OR_RETURN(const model::HParams hp, model::read_hparams(*file));

  kv::KvConfig kv;
  kv.type_k = *type_k;
  kv.type_v = *type_v;
  kv.n_seq = static_cast<uint32_t>(options.parallel);
  kv.n_ctx = kv::context_cells(options.ctx_size ? std::optional<uint64_t>(static_cast<uint64_t>(*options.ctx_size)) : std::nullopt, hp.n_ctx_train);
  if (kv.n_ctx < kv.n_seq) {
    return invalid_argument("-c {} gives {} slots (-np) less than one cell each; use -c {} or more", kv.n_ctx,
                            kv.n_seq, kv.n_seq * 256);
  }
  info_options.n_ctx = static_cast<int32_t>(kv.n_ctx / kv.n_seq);
  // Vocabulary and chat template are checked before anything is loaded or listens.
  auto info = server::load_model_info(*file, info_options);
  if (!info.ok()) return info.status().with_context(fmt::format("'{}'", path));

  const int threads = options.threads > 0 ? static_cast<int>(options.threads)
                                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ComputeOptions compute;
  compute.n_gpu_layers = options.n_gpu_layers;
  compute.device = options.device;
  compute.tensor_split = worker_flags.tensor_split;
  compute.workers = !coordinator.workers.empty();
  compute.threads = threads;
  STRATA_ASSIGN_OR_RETURN(const ComputeBackends backends, ComputeBackends::create(compute, hp.n_layer));
  backend::Backend& backend = backends.model_backend();
  model::ModelConfig config;
  config.kv = kv;
  config.flash_attn = options.flash_attn != "off" && options.flash_attn != "0";
  config.n_batch = static_cast<uint32_t>(options.batch_size);
  engine::SchedulerConfig scheduler_config;
  scheduler_config.queue_size = static_cast<int32_t>(options.queue_size);
  scheduler_config.prefill_chunk = static_cast<int32_t>(options.prefill_chunk);
  scheduler_config.end_tokens = engine::end_of_generation_tokens(*file, &info->tokenizer);

  // Listen first: while the model loads, /health says "loading" and requests get 503.
  engine::DeferredService service(fmt::format("the model '{}' is loading", path));
  server::HttpServer http(std::move(*info), service, server::to_server_options(options));
  STRATA_TRY(http.start());

  // Locally, or with layers on `strata worker` processes (--worker): the scheduler sees one Model.
  std::unique_ptr<model::Model> local;
  std::unique_ptr<dist::DistributedModel> distributed;
  if (coordinator.workers.empty()) {
    auto loaded = load_local_model(*file, backends, config);
    if (!loaded.ok()) return loaded.status().with_context(fmt::format("loading '{}'", path));
    local = std::move(*loaded);
  } else {
    auto clients = connecting.get();
    if (!clients.ok()) return clients.status().with_context(fmt::format("loading '{}' over workers", path));
    auto loaded = dist::load_distributed(*file, backend, config, coordinator, std::move(*clients));
    if (!loaded.ok()) return loaded.status().with_context(fmt::format("loading '{}' over workers", path));
    distributed = std::move(*loaded);
    dist::DistributedModel* dm = distributed.get();
    scheduler_config.health_probe = [dm] {
      const dist::Health h = dm->health();
      return h.ok ? engine::HealthState{} : engine::HealthState{engine::HealthState::Status::kDegraded, h.reason};
    };
    scheduler_config.cache_epoch = [dm] { return dm->resets(); };
  }
  const model::DevicePlacement& placement = backends.placement();
  model::Model* const model = local ? local.get() : &distributed->model();
  spdlog::info("loaded {} on {}: {} layers, {:.1f} MiB of weights, KV cache {} cells ({} slot(s) of {}) K={} V={} "
               "({:.1f} MiB), {} threads",
               path, placement.single_device() ? cli::backend_label(backend) : placement.to_text(),
               hp.n_layer, static_cast<double>(model->weight_bytes()) / (1 << 20), kv.n_ctx, kv.n_seq,
               kv.n_ctx / kv.n_seq, quant::type_name(*type_k), quant::type_name(*type_v),
               static_cast<double>(model->kv_bytes()) / (1 << 20), threads);
  STRATA_ASSIGN_OR_RETURN(auto scheduler, engine::Scheduler::create(*model, scheduler_config));
  service.set(*scheduler);
  spdlog::info("ready: {} slot{} of {} tokens", kv.n_seq, kv.n_seq == 1 ? "" : "s", kv.n_ctx / kv.n_seq);

  const int signal = wait_for_stop_signal(stop_signals);
  spdlog::info("{} received: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
  http.stop();  // before the scheduler and model go: no request is left running
  return {};
}

const bool registered = register_command({
    .name = "serve",
    .description = "serve a model over an OpenAI-compatible HTTP API (llama-server's flags)",
    .order = 10,
    .setup =
        [](CLI::App& app) -> Action {
          auto options = std::make_shared<server::ServeOptions>();
          auto workers = std::make_shared<WorkerFlags>();
          server::add_serve_flags(app, *options);
          add_worker_flags(app, *workers);
          return [options, workers] { return serve(*options, *workers); };
        },
});

}  // namespace
}  // namespace strata::cli
