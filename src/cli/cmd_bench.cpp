// `strata bench`: llama-bench's prompt (pp) and generation (tg) throughput tests, with its flags,
// comma lists, markdown table and JSON fields, so figures compare line for line.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "cli/command.h"
#include "cli/compute_backend.h"
#include "cli/worker_flags.h"
#include "dist/distributed_model.h"
#include "engine/batch.h"
#include "gguf/file.h"
#include "kv/cache_type.h"
#include "model/hparams.h"
#include "model/model.h"
#include "quant/type.h"

namespace strata::cli {
namespace {

using Json = nlohmann::ordered_json;

// Bounds on -p/-n/-d: far beyond any context a CPU benchmark fills, and small enough that the
// token buffers and KV cache sizes they imply cannot overflow.
constexpr int64_t kMaxTokens = int64_t{1} << 20;
constexpr int64_t kMaxRepetitions = 1000;

struct BenchArgs {
  std::vector<std::string> models;
  std::vector<std::string> n_prompt{"512"};
  std::vector<std::string> n_gen{"128"};
  std::vector<std::string> n_depth{"0"};
  std::vector<std::string> threads{std::to_string(std::max(1u, std::thread::hardware_concurrency()))};
  std::vector<std::string> cache_type_k{"f16"};
  std::vector<std::string> cache_type_v{"f16"};
  std::vector<std::string> flash_attn{"0"};
  std::vector<std::string> n_batch{"2048"};
  std::vector<std::string> n_ubatch{"512"};
  int64_t repetitions = 5;
  std::string output = "md";
  int64_t n_gpu_layers = 0;     // -ngl: the last N layers on the GPU(s); 0 = CPU only
  std::string device = "auto";  // --device: auto, cpu, or GPUs as a comma list (cuda:0,cuda:1)
};

// A model file after its header was read: what the table and the JSON say about it.
struct BenchModel {
  std::string path;
  gguf::File file;
  model::HParams hp;
  std::string type_label;  // llama-bench's model_type: "llama 1B Q4_K - Medium"
  uint64_t size = 0;       // bytes of tensor data
  uint64_t n_params = 0;
};

// One combination of settings that needs its own loaded model.
struct Instance {
  size_t model = 0;
  quant::Type type_k = quant::Type::F16;
  quant::Type type_v = quant::Type::F16;
  bool flash = false;
  int n_threads = 1;
  int64_t n_batch = 2048;
  int64_t n_ubatch = 512;
};

struct Test {
  int64_t n_prompt = 0;
  int64_t n_gen = 0;
  int64_t n_depth = 0;
};

struct Settings {
  std::vector<BenchModel> models;
  std::vector<int64_t> n_prompt, n_gen, n_depth, threads, n_batch, n_ubatch;
  std::vector<quant::Type> types_k, types_v;
  std::vector<bool> flash;
  int repetitions = 5;
  bool json = false;
  int64_t n_gpu_layers = 0;
  std::string device = "auto";
};

std::vector<std::string> split_commas(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const std::string& value : values) {
    size_t pos = 0;
    while (true) {
      const size_t end = value.find(',', pos);
      out.push_back(value.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
      if (end == std::string::npos) break;
      pos = end + 1;
    }
  }
  return out;
}

Result<std::vector<int64_t>> parse_ints(std::string_view flag, const std::vector<std::string>& values, int64_t min,
                                        int64_t max, std::string_view what) {
  std::vector<int64_t> out;
  for (const std::string& item : split_commas(values)) {
    size_t used = 0;
    int64_t value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size()) {
      return invalid_argument("{} '{}' is not a number; give {} as integers separated by commas, e.g. {} {},{}", flag,
                              item, what, flag, std::max<int64_t>(min, 1), std::max<int64_t>(min, 1) * 2);
    }
    if (value < min || value > max) {
      return invalid_argument("{} {} is out of range; use {} to {} ({})", flag, value, min, max, what);
    }
    out.push_back(value);
  }
  return out;
}

Result<bool> parse_flash(std::string_view value) {
  if (value == "1" || value == "on" || value == "true") return true;
  if (value == "0" || value == "off" || value == "false") return false;
  return invalid_argument("-fa '{}' is not a flash attention setting; use 0 or 1 (or off, on), comma separated", value);
}

// llama.cpp's names for general.file_type, as llama-bench prints them in model_type.
std::string file_type_name(const gguf::File& file) {
  const gguf::Value* value = file.find("general.file_type");
  const std::optional<uint64_t> id = value != nullptr ? value->as_uint() : std::nullopt;
  if (!id) return "unknown type";
  switch (*id) {
    case 0: return "all F32";
    case 1: return "F16";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 7: return "Q8_0";
    case 8: return "Q5_0";
    case 9: return "Q5_1";
    case 10: return "Q2_K - Medium";
    case 11: return "Q3_K - Small";
    case 12: return "Q3_K - Medium";
    case 13: return "Q3_K - Large";
    case 14: return "Q4_K - Small";
    case 15: return "Q4_K - Medium";
    case 16: return "Q5_K - Small";
    case 17: return "Q5_K - Medium";
    case 18: return "Q6_K";
    case 25: return "IQ4_NL";
    case 30: return "IQ4_XS";
    case 32: return "BF16";
    default: return fmt::format("file type {}", *id);
  }
}

// "1B", "135M": the parameter count rounded, as llama.cpp's size classes read.
std::string size_class(uint64_t n_params) {
  const double p = static_cast<double>(n_params);
  if (p >= 1e9) return fmt::format("{:.0f}B", p / 1e9);
  if (p >= 1e6) return fmt::format("{:.0f}M", p / 1e6);
  return fmt::format("{:.0f}K", p / 1e3);
}

Result<BenchModel> open_model(const std::string& path) {
  BenchModel m;
  m.path = path;
  STRATA_ASSIGN_OR_RETURN(m.file, gguf::File::open(path));
  auto hp = model::read_hparams(m.file);
  if (!hp.ok()) return hp.status().with_context(fmt::format("'{}'", path));
  m.hp = std::move(*hp);
  for (const gguf::TensorInfo& t : m.file.tensors()) {
    m.size += t.n_bytes;
    m.n_params += t.n_elements;
  }
  m.type_label = fmt::format("{} {} {}", model::arch_name(m.hp.arch), size_class(m.n_params), file_type_name(m.file));
  return m;
}

Result<Settings> validate(const BenchArgs& args) {
  Settings s;
  const int max_threads = backend::cpu::kMaxThreads;
  s.n_gpu_layers = args.n_gpu_layers;
  s.device = args.device;
  STRATA_ASSIGN_OR_RETURN(s.n_prompt, parse_ints("-p", args.n_prompt, 0, kMaxTokens, "prompt lengths, 0 for none"));
  STRATA_ASSIGN_OR_RETURN(s.n_gen, parse_ints("-n", args.n_gen, 0, kMaxTokens, "generation lengths, 0 for none"));
  STRATA_ASSIGN_OR_RETURN(s.n_depth, parse_ints("-d", args.n_depth, 0, kMaxTokens, "tokens already in the cache"));
  STRATA_ASSIGN_OR_RETURN(s.threads, parse_ints("-t", args.threads, 1, max_threads, "CPU threads"));
  STRATA_ASSIGN_OR_RETURN(s.n_batch, parse_ints("-b", args.n_batch, 1, kMaxTokens, "logical batch size"));
  STRATA_ASSIGN_OR_RETURN(s.n_ubatch, parse_ints("-ub", args.n_ubatch, 1, kMaxTokens, "physical batch size"));
  for (const std::string& name : split_commas(args.cache_type_k)) {
    STRATA_ASSIGN_OR_RETURN(quant::Type t, kv::parse_cache_type(name));
    s.types_k.push_back(t);
  }
  for (const std::string& name : split_commas(args.cache_type_v)) {
    STRATA_ASSIGN_OR_RETURN(quant::Type t, kv::parse_cache_type(name));
    s.types_v.push_back(t);
  }
  for (const std::string& value : split_commas(args.flash_attn)) {
    STRATA_ASSIGN_OR_RETURN(bool fa, parse_flash(value));
    s.flash.push_back(fa);
  }
  if (args.repetitions < 1 || args.repetitions > kMaxRepetitions) {
    return invalid_argument("-r {} is out of range; use 1 to {} repetitions", args.repetitions, kMaxRepetitions);
  }
  s.repetitions = static_cast<int>(args.repetitions);
  if (args.output != "md" && args.output != "json") {
    return invalid_argument("-o '{}' is not an output format; use md or json", args.output);
  }
  s.json = args.output == "json";
  const bool any_prompt = std::any_of(s.n_prompt.begin(), s.n_prompt.end(), [](int64_t n) { return n > 0; });
  const bool any_gen = std::any_of(s.n_gen.begin(), s.n_gen.end(), [](int64_t n) { return n > 0; });
  if (!any_prompt && !any_gen) return invalid_argument("-p and -n are all 0: nothing to test; give -p 512 or -n 128");

  const std::vector<std::string> paths = split_commas(args.models);
  if (paths.empty()) return invalid_argument("no model given; use -m FILE (repeatable or comma separated)");
  for (const std::string& path : paths) {
    STRATA_ASSIGN_OR_RETURN(BenchModel m, open_model(path));
    // Refuse K/V types the model's head size cannot take before any test runs.
    for (quant::Type t : s.types_k) {
      const Status st = kv::check_cache_type("K", t, m.hp.head_dim_k);
      if (!st.ok()) return st.with_context(fmt::format("'{}'", path));
    }
    for (quant::Type t : s.types_v) {
      const Status st = kv::check_cache_type("V", t, m.hp.head_dim_v);
      if (!st.ok()) return st.with_context(fmt::format("'{}'", path));
    }
    s.models.push_back(std::move(m));
  }
  return s;
}

// In llama-bench's order: every settings combination, then per depth its pp and tg tests.
std::vector<Instance> instances(const Settings& s) {
  std::vector<Instance> out;
  for (size_t m = 0; m < s.models.size(); ++m)
    for (int64_t nb : s.n_batch)
      for (int64_t nub : s.n_ubatch)
        for (quant::Type tk : s.types_k)
          for (quant::Type tv : s.types_v)
            for (bool fa : s.flash)
              for (int64_t t : s.threads) out.push_back({m, tk, tv, fa, static_cast<int>(t), nb, nub});
  return out;
}

std::vector<Test> tests(const Settings& s) {
  std::vector<Test> out;
  for (int64_t d : s.n_depth) {
    for (int64_t p : s.n_prompt) {
      if (p > 0) out.push_back({p, 0, d});
    }
    for (int64_t n : s.n_gen) {
      if (n > 0) out.push_back({0, n, d});
    }
  }
  return out;
}

std::string cpu_info() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(colon + 1);
    name.erase(0, name.find_first_not_of(" \t"));
    return name;
  }
  return "unknown CPU";
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

// Feeds n random tokens to sequence 0 in batches of at most `chunk`, as llama-bench's
// test_prompt does (only each batch's last token asks for logits).
Status feed_prompt(model::Model& model, engine::Batch& batch, int64_t n, int64_t chunk, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(model.hparams().n_vocab - 1));
  auto position = static_cast<int32_t>(model.length(0));
  for (int64_t done = 0; done < n;) {
    const int64_t k = std::min(chunk, n - done);
    batch.clear();
    for (int64_t i = 0; i < k; ++i) batch.add(token(rng), position + static_cast<int32_t>(i), 0, i == k - 1);
    STRATA_TRY(model.forward(batch.view()));
    position += static_cast<int32_t>(k);
    done += k;
  }
  return {};
}

// n one-token decode steps, as llama-bench's test_gen.
Status feed_generation(model::Model& model, engine::Batch& batch, int64_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(model.hparams().n_vocab - 1));
  auto position = static_cast<int32_t>(model.length(0));
  for (int64_t i = 0; i < n; ++i) {
    batch.clear();
    batch.add(token(rng), position++, 0, true);
    STRATA_TRY(model.forward(batch.view()));
  }
  return {};
}

struct Stats {
  double mean = 0.0;
  double stddev = 0.0;  // sample standard deviation, as llama-bench (0 for one sample)
};

Stats stats(const std::vector<double>& values) {
  Stats s;
  if (values.empty()) return s;
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  if (values.size() < 2) return s;
  double sq = 0.0;
  for (double v : values) sq += (v - s.mean) * (v - s.mean);
  s.stddev = std::sqrt(sq / static_cast<double>(values.size() - 1));
  return s;
}

struct Measurement {
  std::string test_time;
  std::vector<uint64_t> samples_ns;
  std::vector<double> samples_ts;
};

Result<Measurement> measure(model::Model& model, const Instance& inst, const Test& test, int repetitions,
                            std::mt19937& rng) {
  const int64_t chunk = std::min(inst.n_batch, inst.n_ubatch);
  engine::Batch batch(static_cast<size_t>(chunk));
  Measurement m;
  m.test_time = utc_now();
  STRATA_TRY(model.clear(0));
  // Warm-up as llama-bench: the prompt once, or one generated token.
  if (test.n_prompt > 0) STRATA_TRY(feed_prompt(model, batch, test.n_prompt, chunk, rng));
  if (test.n_gen > 0) STRATA_TRY(feed_generation(model, batch, 1, rng));
  for (int r = 0; r < repetitions; ++r) {
    STRATA_TRY(model.clear(0));
    if (test.n_depth > 0) STRATA_TRY(feed_prompt(model, batch, test.n_depth, chunk, rng));
    const auto start = std::chrono::steady_clock::now();
    if (test.n_prompt > 0) STRATA_TRY(feed_prompt(model, batch, test.n_prompt, chunk, rng));
    if (test.n_gen > 0) STRATA_TRY(feed_generation(model, batch, test.n_gen, rng));
    const auto ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
    m.samples_ns.push_back(std::max<uint64_t>(ns, 1));
    const double seconds = static_cast<double>(m.samples_ns.back()) / 1e9;
    m.samples_ts.push_back(static_cast<double>(test.n_prompt + test.n_gen) / seconds);
  }
  STRATA_TRY(model.clear(0));
  return m;
}

std::string test_name(const Test& t) {
  std::string name = t.n_prompt > 0 ? fmt::format("pp{}", t.n_prompt) : fmt::format("tg{}", t.n_gen);
  if (t.n_depth > 0) name += fmt::format(" @ d{}", t.n_depth);
  return name;
}

std::string md_size(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes < (uint64_t{1} << 30)) return fmt::format("{:.2f} MiB", b / (1024.0 * 1024.0));
  return fmt::format("{:.2f} GiB", b / (1024.0 * 1024.0 * 1024.0));
}

std::string md_params(uint64_t n) {
  const double p = static_cast<double>(n);
  if (p >= 1e9) return fmt::format("{:.2f} B", p / 1e9);
  if (p >= 1e6) return fmt::format("{:.2f} M", p / 1e6);
  return fmt::format("{:.2f} K", p / 1e3);
}

void print_md_header() {
  std::printf("| %-30s | %10s | %10s | %-10s | %7s | %6s | %6s | %2s | %15s | %20s |\n", "model", "size", "params",
              "backend", "threads", "type_k", "type_v", "fa", "test", "t/s");
  std::printf("| %s | %s: | %s: | %s | %s: | %s: | %s: | %s: | %s: | %s: |\n", std::string(30, '-').c_str(),
              std::string(9, '-').c_str(), std::string(9, '-').c_str(), std::string(10, '-').c_str(),
              std::string(6, '-').c_str(), std::string(5, '-').c_str(), std::string(5, '-').c_str(), "-",
              std::string(14, '-').c_str(), std::string(19, '-').c_str());
  std::fflush(stdout);
}

void print_md_row(const BenchModel& m, const Instance& inst, const Test& t, const Measurement& meas,
                  const std::string& backend) {
  const Stats ts = stats(meas.samples_ts);
  std::printf("| %-30s | %10s | %10s | %-10s | %7d | %6s | %6s | %2d | %15s | %21s |\n", m.type_label.c_str(),
              md_size(m.size).c_str(), md_params(m.n_params).c_str(), backend.c_str(), inst.n_threads,
              std::string(quant::type_name(inst.type_k)).c_str(), std::string(quant::type_name(inst.type_v)).c_str(),
              inst.flash ? 1 : 0, test_name(t).c_str(), fmt::format("{:.2f} ± {:.2f}", ts.mean, ts.stddev).c_str());
  std::fflush(stdout);
}

// The fields and types of llama-bench -o json; settings strata has no equivalent for carry the
// values that describe what strata does (one CPU device, weights mapped in place).
Json json_row(const BenchModel& m, const Instance& inst, const Test& t, const Measurement& meas,
              const std::string& cpu, const ComputeBackends& backends, int64_t n_gpu_layers,
              const std::vector<double>& tensor_split) {
  const backend::Backend& backend = backends.model_backend();
  const model::DevicePlacement& placement = backends.placement();
  const bool gpu = placement.uses_gpu();
  // llama-bench's spellings: devices "CUDA0/CUDA1", tensor_split "3.00/1.00" (or "0.00": none).
  std::string devices;
  for (const model::Device& device : placement.devices) {
    if (device.is_gpu()) devices += fmt::format("{}CUDA{}", devices.empty() ? "" : "/", device.index);
  }
  std::string split;
  for (double r : tensor_split) split += fmt::format("{}{:.2f}", split.empty() ? "" : "/", r);
  std::vector<double> ns(meas.samples_ns.begin(), meas.samples_ns.end());
  const Stats ns_stats = stats(ns);
  const Stats ts_stats = stats(meas.samples_ts);
  Json j;
  j["build_commit"] = STRATA_VERSION;
  j["build_number"] = 0;
  j["cpu_info"] = cpu;
  j["gpu_info"] = gpu ? backend.capabilities().device : "";
  j["backends"] = backend_label(backend);
  j["model_filename"] = m.path;
  j["model_type"] = m.type_label;
  j["model_size"] = m.size;
  j["model_n_params"] = m.n_params;
  j["n_batch"] = inst.n_batch;
  j["n_ubatch"] = inst.n_ubatch;
  j["n_threads"] = inst.n_threads;
  j["cpu_mask"] = "0x0";
  j["cpu_strict"] = false;
  j["poll"] = 0;
  j["type_k"] = quant::type_name(inst.type_k);
  j["type_v"] = quant::type_name(inst.type_v);
  j["n_gpu_layers"] = gpu ? n_gpu_layers : 0;
  j["n_cpu_moe"] = 0;
  j["split_mode"] = "none";
  j["main_gpu"] = 0;
  j["no_kv_offload"] = false;
  j["flash_attn"] = inst.flash;
  j["devices"] = gpu ? devices : "CPU";
  j["tensor_split"] = split.empty() ? "0.00" : split;
  j["tensor_buft_overrides"] = "none";
  j["use_mmap"] = true;
  j["use_direct_io"] = false;
  j["embeddings"] = false;
  j["no_op_offload"] = 0;
  j["no_host"] = false;
  j["fit_target"] = 0;
  j["fit_min_ctx"] = 0;
  j["n_prompt"] = t.n_prompt;
  j["n_gen"] = t.n_gen;
  j["n_depth"] = t.n_depth;
  j["test_time"] = meas.test_time;
  j["avg_ns"] = static_cast<uint64_t>(std::llround(ns_stats.mean));
  j["stddev_ns"] = static_cast<uint64_t>(std::llround(ns_stats.stddev));
  j["avg_ts"] = ts_stats.mean;
  j["stddev_ts"] = ts_stats.stddev;
  j["samples_ns"] = meas.samples_ns;
  j["samples_ts"] = meas.samples_ts;
  return j;
}

Status bench(const BenchArgs& args, const WorkerFlags& worker_flags) {
  STRATA_ASSIGN_OR_RETURN(Settings s, validate(args));
  STRATA_ASSIGN_OR_RETURN(const dist::CoordinatorOptions coordinator, coordinator_options(worker_flags));
  const std::vector<Test> all_tests = tests(s);
  const std::string cpu = cpu_info();
  ComputeOptions compute;
  compute.n_gpu_layers = s.n_gpu_layers;
  compute.device = s.device;
  compute.tensor_split = worker_flags.tensor_split;
  compute.workers = !coordinator.workers.empty();
  // Placement refusals before the table starts, so they are the only line printed.
  for (const BenchModel& bm : s.models) {
    STRATA_TRY(plan_compute(compute, bm.hp.n_layer).status().with_context(fmt::format("'{}'", bm.path)));
  }
  std::mt19937 rng(1234);

  if (s.json) {
    std::printf("[\n");
  } else {
    print_md_header();
  }
  bool first_row = true;
  for (const Instance& inst : instances(s)) {
    const BenchModel& bm = s.models[inst.model];
    uint64_t n_ctx = 1;
    int64_t longest_batch = 1;
    for (const Test& t : all_tests) {
      n_ctx = std::max<uint64_t>(n_ctx, static_cast<uint64_t>(t.n_depth + t.n_prompt + t.n_gen));
      longest_batch = std::max({longest_batch, t.n_prompt, t.n_depth});
    }
    compute.threads = inst.n_threads;
    STRATA_ASSIGN_OR_RETURN(const ComputeBackends backends, ComputeBackends::create(compute, bm.hp.n_layer));
    STRATA_TRY(backends.check_kv_types(inst.type_k, inst.type_v, static_cast<int>(bm.hp.head_dim_k)));
    const backend::Backend* const backend = &backends.model_backend();
    std::vector<double> local_split;
    if (!compute.workers && !compute.tensor_split.empty()) {
      STRATA_ASSIGN_OR_RETURN(local_split, model::parse_device_split(compute.tensor_split));
    }
    model::ModelConfig config;
    config.kv.n_ctx = n_ctx;
    config.kv.n_seq = 1;
    config.kv.type_k = inst.type_k;
    config.kv.type_v = inst.type_v;
    config.flash_attn = inst.flash;
    config.n_batch = static_cast<uint32_t>(std::min({inst.n_batch, inst.n_ubatch, longest_batch}));
    config.n_outputs = 1;
    // With --worker the layers run on `strata worker` processes, as `strata serve --worker` runs them.
    std::unique_ptr<model::Model> local;
    std::unique_ptr<dist::DistributedModel> distributed;
    if (coordinator.workers.empty()) {
      auto loaded_local = load_local_model(bm.file, backends, config);
      if (!loaded_local.ok()) return loaded_local.status().with_context(fmt::format("loading '{}'", bm.path));
      local = std::move(*loaded_local);
    } else {
      auto loaded_dist = dist::load_distributed(bm.file, backends.model_backend(), config, coordinator);
      if (!loaded_dist.ok()) {
        return loaded_dist.status().with_context(fmt::format("loading '{}' over workers", bm.path));
      }
      distributed = std::move(*loaded_dist);
    }
    model::Model* const loaded = local ? local.get() : &distributed->model();
    Instance effective = inst;
    effective.n_ubatch = config.n_batch;  // chunks never exceed what the model was sized for
    for (const Test& t : all_tests) {
      auto meas = measure(*loaded, effective, t, s.repetitions, rng);
      if (!meas.ok()) return meas.status().with_context(fmt::format("test {} of '{}'", test_name(t), bm.path));
      if (s.json) {
        const std::string text = json_row(bm, inst, t, *meas, cpu, backends, s.n_gpu_layers, local_split).dump(2);
        std::string indented;
        for (char c : text) {
          indented += c;
          if (c == '\n') indented += "  ";
        }
        std::printf("%s  %s", first_row ? "" : ",\n", indented.c_str());
        std::fflush(stdout);
      } else {
        print_md_row(bm, inst, t, *meas, backend_label(*backend));
      }
      first_row = false;
    }
  }
  if (s.json) std::printf("\n]\n");
  if (std::fflush(stdout) != 0) return io_error("writing to standard output failed");
  return {};
}

const bool kRegistered = register_command({
    .name = "bench",
    .description = "measure prompt and generation throughput as llama-bench does",
    .order = 25,
    .setup =
        [](CLI::App& app) {
          auto a = std::make_shared<BenchArgs>();
          app.add_option("-m,--model", a->models, "GGUF model file(s); repeatable or comma separated")->required();
          app.add_option("-p,--n-prompt", a->n_prompt, "prompt lengths (pp tests; 0: none)")->capture_default_str();
          app.add_option("-n,--n-gen", a->n_gen, "generation lengths (tg tests; 0: none)")->capture_default_str();
          app.add_option("-d,--n-depth", a->n_depth, "tokens already in the cache before each test")
              ->capture_default_str();
          app.add_option("-t,--threads", a->threads, "CPU threads")->capture_default_str();
          app.add_option("--cache-type-k", a->cache_type_k, "(-ctk) K cache types: " + kv::cache_type_names())
              ->capture_default_str();
          app.add_option("--cache-type-v", a->cache_type_v, "(-ctv) V cache types: " + kv::cache_type_names())
              ->capture_default_str();
          app.add_option("--flash-attn", a->flash_attn, "(-fa) flash attention: 0 or 1 (off, on)")
              ->capture_default_str();
          app.add_option("-b,--batch-size", a->n_batch, "logical batch sizes")->capture_default_str();
          app.add_option("--ubatch-size", a->n_ubatch, "(-ub) physical batch sizes: tokens per forward pass")
              ->capture_default_str();
          add_compute_flags(app, a->n_gpu_layers, a->device, nullptr);
          app.add_option("-r,--repetitions", a->repetitions, "timed runs per test")
              ->capture_default_str()
              ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
          app.add_option("-o,--output", a->output, "output format: md or json")
              ->capture_default_str()
              ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
          auto workers = std::make_shared<WorkerFlags>();
          add_worker_flags(app, *workers);
          return [a, workers]() { return bench(*a, *workers); };
        },
});

}  // namespace
}  // namespace strata::cli
