// `strata check`: the memory plan (weights, KV cache, scratch) of a configuration on each device
// and whether it is supported, from the GGUF header alone: no weights are read.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "cli/command.h"
#include "cli/compute_backend.h"
#include "cli/worker_flags.h"
#include "dist/distributed_model.h"
#include "gguf/file.h"
#include "kv/cache_type.h"
#include "kv/context_size.h"
#include "kv/kv_memory.h"
#include "model/hparams.h"
#include "quant/type.h"

namespace strata::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr uint64_t kMaxBatch = 512;        // n_batch = min(c, 512), what serve and run size scratch for
constexpr uint32_t kMaxSeq = 65536;

struct CheckArgs {
  std::string model;
  std::optional<int64_t> ctx;
  std::string cache_type_k = "f16";
  std::string cache_type_v = "f16";
  int64_t parallel = 1;
  int64_t threads = std::max(1u, std::thread::hardware_concurrency());
  int64_t n_gpu_layers = 0;
  std::string device = "auto";
  bool json = false;
};

struct HostMemory {
  uint64_t total = 0;
  uint64_t available = 0;
};

// MemTotal and MemAvailable of /proc/meminfo; the backend's sysconf figures when it is absent.
HostMemory host_memory(const backend::Capabilities& caps) {
  HostMemory m{caps.memory_bytes, caps.free_memory_bytes};
  if (caps.name != "cpu") return m;  // a GPU's own memory, as its driver reports it
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemTotal:") m.total = kib * 1024;
    if (key == "MemAvailable:") m.available = kib * 1024;
  }
  return m;
}

uint64_t aligned_floats(uint64_t n) { return (n + 15) / 16 * 16; }

// What a model allocates besides weights and KV for a batch of n_batch tokens, following
// Stage::create (its activation buffer), Model::load (hidden states, head input, logits and
// their host copy) and the CPU backend's growable scratch (8-bit activations of the widest
// matmul input, about 2 bytes per value with their scales; flash-attention tiles per thread).
uint64_t scratch_estimate(const model::HParams& hp, uint64_t n_batch, uint64_t n_outputs, uint64_t n_threads) {
  const uint64_t q_width = uint64_t{hp.n_head} * hp.head_dim_k;
  const uint64_t kv_width = uint64_t{hp.n_head_kv} * hp.head_dim_k;
  const uint64_t stage_floats = 2 * aligned_floats(n_batch * hp.n_embd) + 2 * aligned_floats(n_batch * q_width) +
                                2 * aligned_floats(n_batch * kv_width) + 2 * aligned_floats(n_batch * hp.n_ff);
  const uint64_t model_floats = n_batch * hp.n_embd + n_outputs * hp.n_embd + 2 * n_outputs * hp.n_vocab;
  const uint64_t widest = std::max({uint64_t{hp.n_embd}, uint64_t{hp.n_ff}, q_width});
  const uint64_t matmul_bytes = 2 * n_batch * widest;
  constexpr uint64_t kTile = 64;
  const uint64_t attention_bytes = n_threads * 4 * (4 * kTile * hp.head_dim_k + kTile * kTile);
  return 4 * (stage_floats + model_floats) + matmul_bytes + attention_bytes;
}

std::string gib(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes < (uint64_t{1} << 30)) return fmt::format("{:.2f} MiB", b / (1024.0 * 1024.0));
  return fmt::format("{:.2f} GiB", b / (1024.0 * 1024.0 * 1024.0));
}

struct CheckResult {
  std::string name;
  bool ok = true;
  std::string message;
};

struct Plan {
  uint64_t weights = 0;
  std::optional<kv::KvMemory> kv;
  uint64_t scratch = 0;
  uint64_t total() const { return weights + (kv ? kv->total_bytes() : 0) + scratch; }
};

std::string type_counts(const gguf::File& file) {
  std::map<std::string, int> counts;
  for (const gguf::TensorInfo& t : file.tensors()) ++counts[std::string(quant::type_name(t.type))];
  std::string out;
  for (const auto& [name, n] : counts) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, name);
  return out;
}

// Tensors that go through matmul: every matrix except the token embedding, which is only
// looked up by row unless the head reuses it (tied embeddings).
Status check_weight_types(const gguf::File& file, const backend::Backend& backend) {
  const bool tied = file.find_tensor("output.weight") == nullptr;
  std::vector<std::string> bad;
  std::set<std::string> bad_types;
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (t.ne.size() < 2 || t.ne[1] < 2) continue;
    if (t.name == "token_embd.weight" && !tied) continue;
    if (backend.check_weight_type(t.name, t.type).ok()) continue;
    bad.push_back(t.name);
    bad_types.insert(std::string(quant::type_name(t.type)));
  }
  if (bad.empty()) return {};
  std::string supported;
  for (quant::Type t : backend.capabilities().weight_types) {
    supported += (supported.empty() ? "" : ", ") + std::string(quant::type_name(t));
  }
  std::string types;
  for (const std::string& t : bad_types) types += (types.empty() ? "" : ", ") + t;
  return unsupported("{} tensor(s) (first: '{}') have type {}, which the {} backend cannot multiply; requantize "
                     "them to one of: {}",
                     bad.size(), bad.front(), types, backend_label(backend), supported);
}

Status check(const CheckArgs& args, const WorkerFlags& worker_flags) {
  STRATA_ASSIGN_OR_RETURN(const dist::CoordinatorOptions coordinator, coordinator_options(worker_flags));
  // Settings first, so a bad flag fails before the file is opened.
  STRATA_ASSIGN_OR_RETURN(const quant::Type type_k, kv::parse_cache_type(args.cache_type_k));
  STRATA_ASSIGN_OR_RETURN(const quant::Type type_v, kv::parse_cache_type(args.cache_type_v));
  if (args.parallel < 1 || args.parallel > kMaxSeq) {
    return invalid_argument("-np {} is out of range; use 1 to {} parallel sequences", args.parallel, kMaxSeq);
  }
  if (args.ctx && *args.ctx < 0) {
    return invalid_argument("-c {} is negative; give a number of cells, or 0 for the model's training context",
                            *args.ctx);
  }
  if (args.threads < 1 || args.threads > backend::cpu::kMaxThreads) {
    return invalid_argument("-t {} is out of range; use 1 to {} threads (this machine has {} CPUs)", args.threads,
                            backend::cpu::kMaxThreads, std::thread::hardware_concurrency());
  }

  STRATA_ASSIGN_OR_RETURN(const gguf::File file, gguf::File::open(args.model));
  const std::string arch = file.architecture();
  if (auto known = model::arch_from_name(arch); !known.ok()) {
    return known.status().with_context(fmt::format("'{}' has architecture '{}'", args.model, arch));
  }
  auto hp_read = model::read_hparams(file);
  if (!hp_read.ok()) return hp_read.status().with_context(fmt::format("'{}'", args.model));
  const model::HParams& hp = *hp_read;
  // With -ngl the plan is for the GPU: its memory, its weight types and K/V pairs.
  STRATA_ASSIGN_OR_RETURN(auto backend, make_compute_backend({args.n_gpu_layers, args.device,
                                                              static_cast<int>(args.threads)},
                                                             hp.n_layer));

  kv::KvConfig kv_config;
  kv_config.n_seq = static_cast<uint32_t>(args.parallel);
  kv_config.type_k = type_k;
  kv_config.type_v = type_v;
  kv_config.n_ctx = kv::context_cells(args.ctx ? std::optional<uint64_t>(static_cast<uint64_t>(*args.ctx)) : std::nullopt, hp.n_ctx_train);
  const uint64_t n_batch = std::max<uint64_t>(1, std::min<uint64_t>(kv_config.n_ctx, kMaxBatch));
  const uint64_t n_outputs = std::min<uint64_t>(kv_config.n_seq, n_batch);

  std::vector<CheckResult> checks;
  std::vector<std::string> warnings;
  checks.push_back({"architecture", true, fmt::format("{} is supported", arch)});
  {
    const Status st = check_weight_types(file, *backend);
    checks.push_back({"weight types", st.ok(), st.ok() ? "every matrix can be multiplied (" + type_counts(file) + ")"
                                                       : st.message()});
  }
  {
    Status st = kv::check_cache_type("K", type_k, hp.head_dim_k);
    if (st.ok()) st = kv::check_cache_type("V", type_v, hp.head_dim_v);
    if (st.ok()) st = backend->check_kv_types(type_k, type_v, static_cast<int>(hp.head_dim_k));
    checks.push_back({"kv types", st.ok(),
                      st.ok() ? fmt::format("K {} and V {} work with head_dim {}", quant::type_name(type_k),
                                            quant::type_name(type_v), hp.head_dim_k)
                              : st.message()});
  }

  Plan plan;
  for (const gguf::TensorInfo& t : file.tensors()) plan.weights += t.n_bytes;
  plan.scratch = scratch_estimate(hp, n_batch, n_outputs, static_cast<uint64_t>(args.threads));
  const kv::KvShape shape{hp.n_layer, hp.n_head_kv, hp.head_dim_k, hp.head_dim_v};
  if (checks.back().ok) {
    auto kv_memory = kv::estimate_kv_memory(shape, kv_config);
    if (kv_memory.ok()) {
      plan.kv = *kv_memory;
    } else {
      checks.push_back({"context", false, kv_memory.status().message()});
    }
  }
  if (kv_config.n_ctx > hp.n_ctx_train && hp.n_ctx_train > 0) {
    warnings.push_back(fmt::format("-c {} is beyond the training context of {}; quality past {} tokens is not what "
                                   "the model was trained for",
                                   kv_config.n_ctx, hp.n_ctx_train, hp.n_ctx_train));
  }

  const HostMemory mem = host_memory(backend->capabilities());
  if (plan.kv) {
    const bool fits = mem.available == 0 || plan.total() <= mem.available;
    std::string message = fmt::format("needs {} of {} available", gib(plan.total()), gib(mem.available));
    if (!fits) {
      const uint64_t per_cell = shape.n_layer * (plan.kv->k_row_bytes + plan.kv->v_row_bytes);
      const uint64_t fixed = plan.weights + plan.scratch;
      const uint64_t room = mem.available > fixed ? mem.available - fixed : 0;
      const uint64_t max_ctx = per_cell > 0 ? room / per_cell / 256 * 256 : 0;
      message += max_ctx >= kv_config.n_seq
                     ? fmt::format("; use -c {} or less, or smaller cache types (-ctk/-ctv q8_0 or q4_0)", max_ctx)
                     : "; the weights alone do not fit: use a smaller quantization of the model";
    }
    checks.push_back({"memory", fits, message});
  }

  // With --worker: where each layer would run, from each worker's handshake (nothing is loaded).
  if (!coordinator.workers.empty() && checks.back().ok) {
    model::ModelConfig config;
    config.kv = kv_config;
    config.n_batch = static_cast<uint32_t>(n_batch);
    auto placement = dist::plan_distributed(file, config, coordinator);
    checks.push_back({"workers", placement.ok(),
                      placement.ok() ? fmt::format("{} worker(s) take the layers", coordinator.workers.size())
                                     : placement.status().message()});
    if (placement.ok() && !args.json) std::printf("placement:\n%s", placement->to_text().c_str());
  }
  bool supported = true;
  std::string reason;
  for (const CheckResult& c : checks) {
    if (!c.ok && supported) {
      supported = false;
      reason = fmt::format("{}: {}", c.name, c.message);
    }
  }

  if (args.json) {
    Json j;
    j["model"] = args.model;
    j["architecture"] = arch;
    j["n_layer"] = hp.n_layer;
    j["head_dim"] = hp.head_dim_k;
    j["n_ctx_train"] = hp.n_ctx_train;
    j["n_ctx"] = kv_config.n_ctx;
    j["n_seq"] = kv_config.n_seq;
    j["type_k"] = quant::type_name(type_k);
    j["type_v"] = quant::type_name(type_v);
    j["n_batch"] = n_batch;
    j["n_threads"] = args.threads;
    Json device;
    device["name"] = backend_label(*backend);
    device["description"] = backend->capabilities().device;
    device["memory_total"] = mem.total;
    device["memory_available"] = mem.available;
    device["weights_bytes"] = plan.weights;
    device["kv_bytes"] = plan.kv ? Json(plan.kv->total_bytes()) : Json(nullptr);
    device["k_bytes"] = plan.kv ? Json(plan.kv->k_bytes) : Json(nullptr);
    device["v_bytes"] = plan.kv ? Json(plan.kv->v_bytes) : Json(nullptr);
    device["scratch_bytes"] = plan.scratch;
    device["total_bytes"] = plan.total();
    j["devices"] = Json::array({device});
    j["checks"] = Json::array();
    for (const CheckResult& c : checks) j["checks"].push_back({{"name", c.name}, {"ok", c.ok}, {"message", c.message}});
    j["warnings"] = warnings;
    j["supported"] = supported;
    if (!supported) j["reason"] = reason;
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("model:    %s (%s, %u layers, head_dim %u, training context %u)\n", args.model.c_str(), arch.c_str(),
                hp.n_layer, hp.head_dim_k, hp.n_ctx_train);
    std::printf("settings: -c %llu -np %u (%llu cells each), K %s, V %s, batch %llu, %lld threads\n",
                static_cast<unsigned long long>(kv_config.n_ctx), kv_config.n_seq,
                static_cast<unsigned long long>(kv_config.n_ctx / kv_config.n_seq),
                std::string(quant::type_name(type_k)).c_str(), std::string(quant::type_name(type_v)).c_str(),
                static_cast<unsigned long long>(n_batch), static_cast<long long>(args.threads));
    std::printf("device %s (%s): %s total, %s available\n", backend_label(*backend).c_str(),
                backend->capabilities().device.c_str(), gib(mem.total).c_str(), gib(mem.available).c_str());
    std::printf("  weights  %12s  (%llu bytes)\n", gib(plan.weights).c_str(),
                static_cast<unsigned long long>(plan.weights));
    if (plan.kv) {
      std::printf("  KV       %12s  (%llu bytes: K %s, V %s)\n", gib(plan.kv->total_bytes()).c_str(),
                  static_cast<unsigned long long>(plan.kv->total_bytes()), gib(plan.kv->k_bytes).c_str(),
                  gib(plan.kv->v_bytes).c_str());
    } else {
      std::printf("  KV       %12s\n", "n/a");
    }
    std::printf("  scratch  %12s  (%llu bytes, estimate for a batch of %llu)\n", gib(plan.scratch).c_str(),
                static_cast<unsigned long long>(plan.scratch), static_cast<unsigned long long>(n_batch));
    std::printf("  total    %12s  (%llu bytes)\n", gib(plan.total()).c_str(),
                static_cast<unsigned long long>(plan.total()));
    for (const CheckResult& c : checks) {
      std::printf("%-13s %s: %s\n", (c.name + ":").c_str(), c.ok ? "ok" : "FAIL", c.message.c_str());
    }
    for (const std::string& w : warnings) std::printf("warning: %s\n", w.c_str());
    std::printf("%s\n", supported ? "supported" : "not supported");
  }
  if (std::fflush(stdout) != 0) return io_error("writing to standard output failed");
  if (!supported) return unsupported("{}", reason);
  return {};
}

const bool kRegistered = register_command({
    .name = "check",
    .description = "print the memory plan of a configuration and whether it is supported (loads nothing)",
    .order = 26,
    .setup =
        [](CLI::App& app) {
          auto a = std::make_shared<CheckArgs>();
          app.add_option("-m,--model", a->model, "GGUF model file")->required();
          app.add_option("-c,--ctx-size", a->ctx,
                         "context cells (default: the training context, at most 4096; 0: the training context)");
          app.add_option("--cache-type-k", a->cache_type_k, "(-ctk) K cache type: " + kv::cache_type_names())
              ->capture_default_str();
          app.add_option("--cache-type-v", a->cache_type_v, "(-ctv) V cache type: " + kv::cache_type_names())
              ->capture_default_str();
          app.add_option("--parallel", a->parallel, "(-np) parallel sequences sharing the context")
              ->capture_default_str();
          app.add_option("-t,--threads", a->threads, "CPU threads")->capture_default_str();
          app.add_option("--n-gpu-layers", a->n_gpu_layers, "(-ngl) layers on the GPU: 0 (CPU) or all of them")
              ->capture_default_str();
          app.add_option("--device", a->device, "auto, cpu or cuda:N")->capture_default_str();
          app.add_flag("--json", a->json, "print the plan as one JSON object");
          auto workers = std::make_shared<WorkerFlags>();
          add_worker_flags(app, *workers);
          return [a, workers]() { return check(*a, *workers); };
        },
});

}  // namespace
}  // namespace strata::cli
