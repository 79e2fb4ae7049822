// `strata check`: the memory plan (weights, KV cache, scratch) of a configuration on each device
// and whether it is supported, from the GGUF header alone: no weights are read.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
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

// What a stage allocates besides weights and KV for a batch of n_batch tokens, following
// Stage::create (its activation buffer) and the CPU backend's growable scratch (8-bit
// activations of the widest matmul input, about 2 bytes per value with their scales;
// flash-attention tiles per thread).
uint64_t stage_scratch_estimate(const model::HParams& hp, uint64_t n_batch, uint64_t n_threads) {
  const uint64_t q_width = uint64_t{hp.n_head} * hp.head_dim_k;
  const uint64_t kv_width = uint64_t{hp.n_head_kv} * hp.head_dim_k;
  const uint64_t stage_floats = 2 * aligned_floats(n_batch * hp.n_embd) + 2 * aligned_floats(n_batch * q_width) +
                                2 * aligned_floats(n_batch * kv_width) + 2 * aligned_floats(n_batch * hp.n_ff);
  const uint64_t widest = std::max({uint64_t{hp.n_embd}, uint64_t{hp.n_ff}, q_width});
  const uint64_t matmul_bytes = 2 * n_batch * widest;
  constexpr uint64_t kTile = 64;
  const uint64_t attention_bytes = n_threads * 4 * (4 * kTile * hp.head_dim_k + kTile * kTile);
  return 4 * stage_floats + matmul_bytes + attention_bytes;
}

// The model's own buffers on its device, following Model::load: hidden states, head input,
// logits and their host copy.
uint64_t model_scratch_estimate(const model::HParams& hp, uint64_t n_batch, uint64_t n_outputs) {
  return 4 * (n_batch * hp.n_embd + n_outputs * hp.n_embd + 2 * n_outputs * hp.n_vocab);
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

// The layer index of a "blk.N.*" tensor; nullopt for the embeddings, head and rope_freqs.
std::optional<uint32_t> tensor_layer(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return std::nullopt;
  uint32_t layer = 0;
  const char* first = name.data() + 4;
  const char* last = name.data() + name.size();
  const auto [end, ec] = std::from_chars(first, last, layer);
  if (ec != std::errc() || end == last || *end != '.') return std::nullopt;
  return layer;
}

// Whether a tensor is loaded on a device that runs `layers` (and the head when `head`).
bool on_device(const gguf::TensorInfo& t, model::LayerRange layers, bool head) {
  const std::optional<uint32_t> layer = tensor_layer(t.name);
  return layer ? *layer >= layers.begin && *layer < layers.end : head;
}

// Tensors that go through matmul on a device: every matrix it holds except the token
// embedding, which is only looked up by row unless the head reuses it (tied embeddings).
Status check_weight_types(const gguf::File& file, const backend::Backend& backend, model::LayerRange layers,
                          bool head) {
  const bool tied = file.find_tensor("output.weight") == nullptr;
  std::vector<std::string> bad;
  std::set<std::string> bad_types;
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (t.ne.size() < 2 || t.ne[1] < 2 || !on_device(t, layers, head)) continue;
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

// One physical device (the CPU, or CUDA GPU N): its backend when one could be opened, to ask
// for its memory, weight types and K/V pairs. Entries of the placement that name the same GPU
// share it.
struct PhysicalDevice {
  model::Device device;
  std::unique_ptr<backend::Backend> backend;  // null: could not be opened (unknown_reason says why)
  std::string unknown_reason;
  HostMemory mem;
  std::string label() const { return device.is_gpu() ? device.name() : "CPU"; }
};

// What one entry of the placement holds.
struct DevicePlan {
  size_t physical = 0;  // index into the physical devices
  model::LayerRange layers;
  bool head = false;  // the model's device: embeddings, head and the hidden states between stages
  Plan plan;
};

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

  // Where each layer would run. A build without CUDA still prints the plan of a GPU placement
  // (then refuses it), so a GPU machine's configuration can be planned anywhere.
  ComputeOptions compute;
  compute.n_gpu_layers = args.n_gpu_layers;
  compute.device = args.device;
  compute.tensor_split = worker_flags.tensor_split;
  compute.workers = !coordinator.workers.empty();
  compute.threads = static_cast<int>(args.threads);
  STRATA_ASSIGN_OR_RETURN(const model::DevicePlacement placement,
                          plan_compute(compute, hp.n_layer, /*refuse_without_cuda=*/false));

  // Open each physical device once, for its memory and capabilities (nothing is loaded).
  std::vector<PhysicalDevice> physical;
  std::vector<DevicePlan> entries;
  for (size_t d = 0; d < placement.devices.size(); ++d) {
    const model::Device& device = placement.devices[d];
    size_t p = 0;
    while (p < physical.size() && !(physical[p].device == device)) ++p;
    if (p == physical.size()) {
      PhysicalDevice pd;
      pd.device = device;
      if (device.is_gpu() && !have_cuda()) {
        pd.unknown_reason = "this strata was built without the CUDA backend";
      } else {
        auto opened = make_device_backend(device, compute.threads);
        if (opened.ok()) {
          pd.backend = std::move(*opened);
          pd.mem = host_memory(pd.backend->capabilities());
        } else {
          pd.unknown_reason = opened.status().message();
        }
      }
      physical.push_back(std::move(pd));
    }
    entries.push_back({p, placement.layers_of(d), d == 0, {}});
  }

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
  if (placement.uses_gpu() && !have_cuda()) {
    const Status refused = plan_compute(compute, hp.n_layer).status();
    checks.push_back({"devices", false, refused.message()});
  }
  for (const PhysicalDevice& pd : physical) {
    if (pd.backend == nullptr && have_cuda()) {
      warnings.push_back(fmt::format("{} could not be opened ({}): its free memory is unknown and its weight types "
                                     "and K/V pairs were not checked",
                                     pd.device.name(), pd.unknown_reason));
    }
  }
  {
    Status st;
    for (const DevicePlan& e : entries) {
      const PhysicalDevice& pd = physical[e.physical];
      if (pd.backend == nullptr) continue;
      st = check_weight_types(file, *pd.backend, e.layers, e.head);
      if (!st.ok()) {
        if (!placement.single_device()) st = st.with_context(pd.device.name());
        break;
      }
    }
    checks.push_back({"weight types", st.ok(), st.ok() ? "every matrix can be multiplied (" + type_counts(file) + ")"
                                                       : st.message()});
  }
  {
    Status st = kv::check_cache_type("K", type_k, hp.head_dim_k);
    if (st.ok()) st = kv::check_cache_type("V", type_v, hp.head_dim_v);
    for (const DevicePlan& e : entries) {
      const PhysicalDevice& pd = physical[e.physical];
      if (!st.ok() || pd.backend == nullptr || e.layers.size() == 0) continue;
      st = pd.backend->check_kv_types(type_k, type_v, static_cast<int>(hp.head_dim_k));
      if (!st.ok() && !placement.single_device()) st = st.with_context(pd.device.name());
    }
    checks.push_back({"kv types", st.ok(),
                      st.ok() ? fmt::format("K {} and V {} work with head_dim {}", quant::type_name(type_k),
                                            quant::type_name(type_v), hp.head_dim_k)
                              : st.message()});
  }

  // Each entry's share: its layers' weights, KV and activations; the model's device also the
  // embeddings, head and the model's buffers; a bridged device its copy of the hidden states.
  const bool kv_types_ok = checks.back().ok;
  bool have_kv = kv_types_ok;
  for (DevicePlan& e : entries) {
    for (const gguf::TensorInfo& t : file.tensors()) {
      if (on_device(t, e.layers, e.head)) e.plan.weights += t.n_bytes;
    }
    if (e.layers.size() > 0) {
      e.plan.scratch += stage_scratch_estimate(hp, n_batch, static_cast<uint64_t>(args.threads));
      if (!e.head) e.plan.scratch += 4 * n_batch * hp.n_embd;
    }
    if (e.head) e.plan.scratch += model_scratch_estimate(hp, n_batch, n_outputs);
    if (kv_types_ok && e.layers.size() > 0) {
      const kv::KvShape shape{e.layers.size(), hp.n_head_kv, hp.head_dim_k, hp.head_dim_v};
      auto kv_memory = kv::estimate_kv_memory(shape, kv_config);
      if (kv_memory.ok()) {
        e.plan.kv = *kv_memory;
      } else {
        have_kv = false;
        if (checks.back().name != "context") checks.push_back({"context", false, kv_memory.status().message()});
      }
    } else if (kv_types_ok) {
      e.plan.kv = kv::KvMemory{};
    }
  }
  if (kv_config.n_ctx > hp.n_ctx_train && hp.n_ctx_train > 0) {
    warnings.push_back(fmt::format("-c {} is beyond the training context of {}; quality past {} tokens is not what "
                                   "the model was trained for",
                                   kv_config.n_ctx, hp.n_ctx_train, hp.n_ctx_train));
  }

  if (have_kv && placement.single_device()) {
    const Plan& plan = entries.front().plan;
    const PhysicalDevice& pd = physical.front();
    const HostMemory& mem = pd.mem;
    const bool known = pd.backend != nullptr;
    const bool fits = !known || mem.available == 0 || plan.total() <= mem.available;
    std::string message = known ? fmt::format("needs {} of {} available", gib(plan.total()), gib(mem.available))
                                : fmt::format("needs {}; free memory of {} unknown", gib(plan.total()),
                                              pd.device.name());
    if (!fits) {
      const uint64_t per_cell = uint64_t{hp.n_layer} * (plan.kv->k_row_bytes + plan.kv->v_row_bytes);
      const uint64_t fixed = plan.weights + plan.scratch;
      const uint64_t room = mem.available > fixed ? mem.available - fixed : 0;
      const uint64_t max_ctx = per_cell > 0 ? room / per_cell / 256 * 256 : 0;
      message += max_ctx >= kv_config.n_seq
                     ? fmt::format("; use -c {} or less, or smaller cache types (-ctk/-ctv q8_0 or q4_0)", max_ctx)
                     : "; the weights alone do not fit: use a smaller quantization of the model";
    }
    checks.push_back({"memory", fits, message});
  } else if (have_kv) {
    // Entries on one physical device (a GPU named twice) add up against its free memory.
    std::string message;
    bool fits = true;
    for (size_t p = 0; p < physical.size(); ++p) {
      uint64_t need = 0;
      for (const DevicePlan& e : entries) need += e.physical == p ? e.plan.total() : 0;
      const PhysicalDevice& pd = physical[p];
      const bool known = pd.backend != nullptr && pd.mem.available > 0;
      if (known && need > pd.mem.available) {
        fits = false;
        message = fmt::format("{} needs {} but has {} available; put fewer layers there (-ngl, -ts) or use a "
                              "smaller -c or cache types (-ctk/-ctv q8_0 or q4_0)",
                              pd.device.name(), gib(need), gib(pd.mem.available));
        break;
      }
      message += fmt::format("{}{} needs {}{}", message.empty() ? "" : "; ", pd.device.name(), gib(need),
                             known ? " of " + gib(pd.mem.available) + " available" : " (free memory unknown)");
    }
    checks.push_back({"memory", fits, message});
  }

  // With --worker: where each layer would run, from each worker's handshake (nothing is loaded).
  if (!coordinator.workers.empty() && checks.back().ok) {
    model::ModelConfig config;
    config.kv = kv_config;
    config.n_batch = static_cast<uint32_t>(n_batch);
    auto placement_over_workers = dist::plan_distributed(file, config, coordinator);
    checks.push_back({"workers", placement_over_workers.ok(),
                      placement_over_workers.ok()
                          ? fmt::format("{} worker(s) take the layers", coordinator.workers.size())
                          : placement_over_workers.status().message()});
    if (placement_over_workers.ok() && !args.json) {
      std::printf("placement:\n%s", placement_over_workers->to_text().c_str());
    }
  }
  bool supported = true;
  std::string reason;
  for (const CheckResult& c : checks) {
    if (!c.ok && supported) {
      supported = false;
      reason = fmt::format("{}: {}", c.name, c.message);
    }
  }

  auto description = [&](const PhysicalDevice& pd) {
    return pd.backend != nullptr ? pd.backend->capabilities().device : std::string("not opened");
  };
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
    j["placement"] = placement.to_text();
    j["devices"] = Json::array();
    for (size_t d : placement.layer_order()) {
      const DevicePlan& e = entries[d];
      const PhysicalDevice& pd = physical[e.physical];
      const bool known = pd.backend != nullptr;
      Json device;
      device["name"] = pd.device.is_gpu() ? "CUDA" : "CPU";
      device["device"] = pd.device.name();
      device["description"] = description(pd);
      device["layers"] = e.layers.size() > 0 ? Json::array({e.layers.begin, e.layers.end}) : Json::array();
      device["embeddings_and_head"] = e.head;
      device["memory_total"] = known ? Json(pd.mem.total) : Json(nullptr);
      device["memory_available"] = known ? Json(pd.mem.available) : Json(nullptr);
      if (!known) device["memory_unknown_reason"] = pd.unknown_reason;
      device["weights_bytes"] = e.plan.weights;
      device["kv_bytes"] = e.plan.kv ? Json(e.plan.kv->total_bytes()) : Json(nullptr);
      device["k_bytes"] = e.plan.kv ? Json(e.plan.kv->k_bytes) : Json(nullptr);
      device["v_bytes"] = e.plan.kv ? Json(e.plan.kv->v_bytes) : Json(nullptr);
      device["scratch_bytes"] = e.plan.scratch;
      device["total_bytes"] = e.plan.total();
      j["devices"].push_back(device);
    }
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
    if (!placement.single_device() || placement.uses_gpu()) {
      std::printf("layers:   %s\n", placement.to_text().c_str());
    }
    std::vector<bool> shown(physical.size(), false);
    for (size_t d : placement.layer_order()) {
      const DevicePlan& e = entries[d];
      const PhysicalDevice& pd = physical[e.physical];
      std::string memory;
      if (pd.backend == nullptr) {
        memory = fmt::format("free memory unknown ({})", pd.unknown_reason);
      } else {
        memory = fmt::format("{} total, {} available", gib(pd.mem.total), gib(pd.mem.available));
        if (shown[e.physical]) memory += " (shared with its other entry)";
      }
      shown[e.physical] = true;
      std::printf("device %s (%s): %s\n", pd.label().c_str(), description(pd).c_str(), memory.c_str());
      if (!placement.single_device()) {
        std::string holds = e.layers.size() == 0 ? std::string()
                            : e.layers.size() == 1
                                ? fmt::format("layer {}", e.layers.begin)
                                : fmt::format("layers {}-{}", e.layers.begin, e.layers.end - 1);
        if (e.head) holds += holds.empty() ? "embeddings and head" : ", embeddings and head";
        std::printf("  holds    %s\n", holds.c_str());
      }
      const Plan& plan = e.plan;
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
    }
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
          add_compute_flags(app, a->n_gpu_layers, a->device, nullptr);
          app.add_flag("--json", a->json, "print the plan as one JSON object");
          auto workers = std::make_shared<WorkerFlags>();
          add_worker_flags(app, *workers);
          return [a, workers]() { return check(*a, *workers); };
        },
});

}  // namespace
}  // namespace strata::cli
