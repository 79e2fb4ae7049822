// `strata info FILE`: what a GGUF file holds and the memory it needs for weights plus KV cache.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/log.h"
#include "gguf/file.h"
#include "kv/cache_type.h"
#include "kv/context_size.h"
#include "kv/kv_memory.h"
#include "model/hparams.h"
#include "quant/type.h"

namespace strata::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kUsage =
    "strata info FILE [--json] [-c N] [-ctk TYPE] [-ctv TYPE] [-np N]";

struct InfoOptions {
  std::string file;
  bool json = false;
  std::optional<int64_t> ctx;
  std::string cache_type_k = "f16";
  std::string cache_type_v = "f16";
  int64_t parallel = 1;
};

// Settings after validation, before the file is read.
struct KvSettings {
  std::optional<uint64_t> n_ctx;  // nullopt: min(training context, 4096); 0: training context
  uint32_t n_seq = 1;
  quant::Type type_k = quant::Type::F16;
  quant::Type type_v = quant::Type::F16;
};

struct TypeTally {
  uint64_t count = 0;
  uint64_t bytes = 0;
};

// Everything `info` reports, gathered once and then printed as text or JSON.
struct Facts {
  std::string path;
  uint64_t file_size = 0;
  uint32_t version = 0;
  uint64_t alignment = 0;
  size_t metadata_count = 0;

  std::string architecture;  // "" when absent
  bool arch_supported = false;
  std::string arch_error;  // why a named architecture is not supported
  std::string name;
  std::optional<model::HParams> hparams;
  std::string hparams_error;  // why hparams is empty for a supported architecture

  std::string tokenizer_model;  // "" when absent
  std::string tokenizer_pre;
  std::optional<uint64_t> n_tokens;
  std::optional<uint64_t> chat_template_bytes;

  uint64_t n_tensors = 0;
  uint64_t tensor_bytes = 0;
  uint64_t n_params = 0;
  std::map<uint32_t, TypeTally> by_type;  // by ggml type id

  std::optional<kv::KvMemory> kv;
  uint64_t n_ctx_train = 0;
};

Result<KvSettings> validate_options(const InfoOptions& options) {
  KvSettings settings;
  STRATA_ASSIGN_OR_RETURN(settings.type_k, kv::parse_cache_type(options.cache_type_k));
  STRATA_ASSIGN_OR_RETURN(settings.type_v, kv::parse_cache_type(options.cache_type_v));
  if (options.parallel < 1 || options.parallel > 65536) {
    return invalid_argument("-np {} is out of range; use 1 to 65536 parallel sequences", options.parallel);
  }
  settings.n_seq = static_cast<uint32_t>(options.parallel);
  if (options.ctx) {
    if (*options.ctx < 0) {
      return invalid_argument("-c {} is negative; use a number of cells, or 0 for the model's training context",
                              *options.ctx);
    }
    if (*options.ctx > 0 && static_cast<uint64_t>(*options.ctx) < settings.n_seq) {
      return invalid_argument(
          "-c {} is smaller than -np {}: the context is shared by all sequences and each needs at least one "
          "cell; use -c {} or more",
          *options.ctx, settings.n_seq, settings.n_seq);
    }
    settings.n_ctx = static_cast<uint64_t>(*options.ctx);
  }
  return settings;
}

std::string human_bytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  return unit >= 2 ? fmt::format("{:.2f} {}", value, kUnits[unit]) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string human_count(uint64_t n) {
  const double v = static_cast<double>(n);
  if (n >= 1'000'000'000) return fmt::format("{:.2f}B", v / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.1f}M", v / 1e6);
  if (n >= 1'000) return fmt::format("{:.1f}K", v / 1e3);
  return fmt::format("{}", n);
}

// 17564928 -> "17,564,928"
std::string grouped(uint64_t n) {
  std::string digits = fmt::format("{}", n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::optional<std::string> metadata_string(const gguf::File& file, std::string_view key) {
  const gguf::Value* value = file.find(key);
  if (value == nullptr || value->as_string() == nullptr) return std::nullopt;
  return *value->as_string();
}

Status gather_kv(const model::HParams& hp, const KvSettings& settings, Facts& facts) {
  kv::KvConfig config;
  config.n_ctx = kv::context_cells(settings.n_ctx, hp.n_ctx_train);
  // The default context must still give every sequence a cell.
  config.n_ctx = settings.n_ctx ? config.n_ctx : std::max<uint64_t>(config.n_ctx, settings.n_seq);
  config.n_seq = settings.n_seq;
  config.type_k = settings.type_k;
  config.type_v = settings.type_v;
  const kv::KvShape shape{hp.n_layer, hp.n_head_kv, hp.head_dim_k, hp.head_dim_v};
  STRATA_ASSIGN_OR_RETURN(facts.kv, kv::estimate_kv_memory(shape, config));
  return {};
}

Result<Facts> gather(const gguf::File& file, const std::string& path, const KvSettings& settings) {
  Facts facts;
  facts.path = path;
  facts.file_size = file.file_size();
  facts.version = file.version();
  facts.alignment = file.alignment();
  facts.metadata_count = file.metadata().size();
  facts.architecture = file.architecture();
  facts.name = metadata_string(file, "general.name").value_or("");

  facts.tokenizer_model = metadata_string(file, "tokenizer.ggml.model").value_or("");
  facts.tokenizer_pre = metadata_string(file, "tokenizer.ggml.pre").value_or("");
  if (const gguf::Value* tokens = file.find("tokenizer.ggml.tokens"); tokens != nullptr && tokens->is_array()) {
    facts.n_tokens = tokens->array_size();
  }
  if (auto chat_template = metadata_string(file, "tokenizer.chat_template")) {
    facts.chat_template_bytes = chat_template->size();
  }

  for (const gguf::TensorInfo& tensor : file.tensors()) {
    ++facts.n_tensors;
    facts.tensor_bytes += tensor.n_bytes;
    facts.n_params += tensor.n_elements;
    TypeTally& tally = facts.by_type[static_cast<uint32_t>(tensor.type)];
    ++tally.count;
    tally.bytes += tensor.n_bytes;
  }

  if (facts.architecture.empty()) return facts;
  const Result<model::Arch> arch = model::arch_from_name(facts.architecture);
  facts.arch_supported = arch.ok();
  if (!facts.arch_supported) {
    facts.arch_error = arch.status().message();
    return facts;
  }
  Result<model::HParams> hparams = model::read_hparams(file);
  if (!hparams.ok()) {
    facts.hparams_error = hparams.status().message();
    return facts;
  }
  facts.hparams = *hparams;
  facts.n_ctx_train = hparams->n_ctx_train;
  STRATA_TRY(gather_kv(*hparams, settings, facts));
  return facts;
}

void line(std::string& out, std::string_view label, const std::string& text) {
  out += fmt::format("{:<12}{}\n", label, text);
}

std::string render_text(const Facts& f) {
  std::string out;
  line(out, "file", fmt::format("{} ({}, GGUF v{}, {} metadata keys)", f.path, human_bytes(f.file_size), f.version,
                                f.metadata_count));
  if (f.architecture.empty()) {
    line(out, "arch", "absent (no general.architecture: a vocabulary or bare-tensor file, so no KV estimate)");
  } else if (!f.arch_supported) {
    line(out, "arch", f.arch_error);
  } else {
    line(out, "arch", f.name.empty() ? f.architecture : fmt::format("{}  (name: {})", f.architecture, f.name));
  }
  if (!f.hparams_error.empty()) line(out, "hparams", "invalid: " + f.hparams_error);
  if (f.hparams) {
    const model::HParams& hp = *f.hparams;
    line(out, "context", fmt::format("{} (training)", hp.n_ctx_train));
    line(out, "layers", fmt::format("{}", hp.n_layer));
    line(out, "embedding", fmt::format("{}, feed-forward {}", hp.n_embd, hp.n_ff));
    line(out, "heads", fmt::format("{} query, {} KV (GQA {}:1), head dim K {} / V {}", hp.n_head, hp.n_head_kv,
                                   hp.n_head / hp.n_head_kv, hp.head_dim_k, hp.head_dim_v));
    line(out, "rope", fmt::format("{}, {} dims, freq base {:g}", hp.rope_type == model::RopeType::kNeox ? "neox" : "normal",
                                  hp.rope_dim, hp.rope_freq_base));
    line(out, "norm eps", fmt::format("{:g}", hp.rms_norm_eps));
    line(out, "vocab", fmt::format("{}", hp.n_vocab));
    line(out, "output", hp.tied_embeddings ? "tied to token_embd.weight" : "own output.weight");
  }
  if (f.tokenizer_model.empty()) {
    line(out, "tokenizer", "absent");
  } else {
    std::string text = f.tokenizer_model;
    if (!f.tokenizer_pre.empty()) text += fmt::format(" (pre: {})", f.tokenizer_pre);
    if (f.n_tokens) text += fmt::format(", {} tokens", *f.n_tokens);
    line(out, "tokenizer", text);
  }
  line(out, "chat tmpl",
       f.chat_template_bytes ? fmt::format("present ({} bytes)", *f.chat_template_bytes) : std::string("absent"));
  line(out, "tensors", f.n_tensors == 0 ? std::string("none (metadata only)")
                                        : fmt::format("{}, {}", f.n_tensors, human_bytes(f.tensor_bytes)));
  if (!f.by_type.empty()) {
    line(out, "", fmt::format("{:<8}{:>7}{:>14}", "type", "count", "bytes"));
    for (const auto& [id, tally] : f.by_type) {
      line(out, "", fmt::format("{:<8}{:>7}{:>14}", quant::type_name(static_cast<quant::Type>(id)), tally.count,
                                human_bytes(tally.bytes)));
    }
  }
  line(out, "params", fmt::format("{} ({})", human_count(f.n_params), grouped(f.n_params)));
  line(out, "memory", fmt::format("{:<10}{:>12}", "weights", human_bytes(f.tensor_bytes)));
  if (f.kv) {
    const kv::KvMemory& kv = *f.kv;
    std::string note = fmt::format("-c {} (-np {}: {} per sequence), K {} {}, V {} {}", kv.config.n_ctx,
                                   kv.config.n_seq, kv.n_ctx_per_seq, quant::type_name(kv.config.type_k),
                                   human_bytes(kv.k_bytes), quant::type_name(kv.config.type_v),
                                   human_bytes(kv.v_bytes));
    if (kv.config.n_ctx > f.n_ctx_train) note += fmt::format("; over the training context {}", f.n_ctx_train);
    line(out, "", fmt::format("{:<10}{:>12}  {}", "KV cache", human_bytes(kv.total_bytes()), note));
    line(out, "", fmt::format("{:<10}{:>12}", "total", human_bytes(f.tensor_bytes + kv.total_bytes())));
  }
  return out;
}

// The float's shortest decimal form as a double, so 1e-5f prints as 1e-05, not 9.99999974e-06.
double shortest(float value) { return std::strtod(fmt::format("{}", value).c_str(), nullptr); }

Json render_json(const Facts& f) {
  Json j;
  j["file"] = {{"path", f.path},
               {"size_bytes", f.file_size},
               {"gguf_version", f.version},
               {"alignment", f.alignment},
               {"metadata_count", f.metadata_count}};
  j["architecture"] = f.architecture.empty() ? Json(nullptr) : Json(f.architecture);
  j["architecture_supported"] = f.arch_supported;
  if (!f.arch_error.empty()) j["architecture_error"] = f.arch_error;
  j["name"] = f.name.empty() ? Json(nullptr) : Json(f.name);
  if (f.hparams) {
    const model::HParams& hp = *f.hparams;
    j["hparams"] = {{"n_ctx_train", hp.n_ctx_train},
                    {"n_embd", hp.n_embd},
                    {"n_layer", hp.n_layer},
                    {"n_ff", hp.n_ff},
                    {"n_head", hp.n_head},
                    {"n_head_kv", hp.n_head_kv},
                    {"head_dim_k", hp.head_dim_k},
                    {"head_dim_v", hp.head_dim_v},
                    {"n_vocab", hp.n_vocab},
                    {"rope_type", hp.rope_type == model::RopeType::kNeox ? "neox" : "normal"},
                    {"rope_dim", hp.rope_dim},
                    {"rope_freq_base", shortest(hp.rope_freq_base)},
                    {"rms_norm_eps", shortest(hp.rms_norm_eps)},
                    {"tied_embeddings", hp.tied_embeddings}};
  } else {
    j["hparams"] = nullptr;
  }
  if (!f.hparams_error.empty()) j["hparams_error"] = f.hparams_error;
  if (f.tokenizer_model.empty()) {
    j["tokenizer"] = nullptr;
  } else {
    j["tokenizer"] = {{"model", f.tokenizer_model},
                      {"pre", f.tokenizer_pre.empty() ? Json(nullptr) : Json(f.tokenizer_pre)},
                      {"n_vocab", f.n_tokens ? Json(*f.n_tokens) : Json(nullptr)}};
  }
  j["chat_template"] = f.chat_template_bytes.has_value();
  Json by_type = Json::array();
  for (const auto& [id, tally] : f.by_type) {
    by_type.push_back({{"type", quant::type_name(static_cast<quant::Type>(id))},
                       {"count", tally.count},
                       {"bytes", tally.bytes}});
  }
  j["tensors"] = {{"count", f.n_tensors}, {"bytes", f.tensor_bytes}, {"by_type", by_type}};
  j["n_params"] = f.n_params;
  Json memory = {{"weights_bytes", f.tensor_bytes}};
  if (f.kv) {
    const kv::KvMemory& kv = *f.kv;
    memory["kv"] = {{"n_ctx", kv.config.n_ctx},
                    {"n_seq", kv.config.n_seq},
                    {"n_ctx_per_seq", kv.n_ctx_per_seq},
                    {"type_k", quant::type_name(kv.config.type_k)},
                    {"type_v", quant::type_name(kv.config.type_v)},
                    {"k_bytes", kv.k_bytes},
                    {"v_bytes", kv.v_bytes},
                    {"bytes", kv.total_bytes()}};
    memory["total_bytes"] = f.tensor_bytes + kv.total_bytes();
  } else {
    memory["kv"] = nullptr;
    memory["total_bytes"] = f.tensor_bytes;
  }
  j["memory"] = memory;
  return j;
}

Status run_info(CLI::App& app, InfoOptions options) {
  STRATA_ASSIGN_OR_RETURN(KvSettings settings, validate_options(options));
  Result<gguf::File> file = gguf::File::open(options.file);
  if (!file.ok()) {
    const Status& status = file.status();
    // Reader messages name the field; add the file unless the message already names it.
    if (status.message().find(options.file) != std::string::npos) return status;
    return status.with_context(options.file);
  }
  STRATA_ASSIGN_OR_RETURN(Facts facts, gather(*file, options.file, settings));
  const std::string out = options.json ? render_json(facts).dump(2) + "\n" : render_text(facts);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return {};
}

Action setup_info(CLI::App& app) {
  auto options = std::make_shared<InfoOptions>();
  app.description(std::string(app.get_description()) + "\nUsage: " + kUsage);
  app.add_option("FILE", options->file, "GGUF file to describe")->required();
  app.add_flag("--json", options->json, "print one JSON object instead of text");
  app.add_option("-c,--ctx-size", options->ctx,
                 "(-c) KV cache cells shared by all sequences; 0 = training context "
                 "(default: min(training context, 4096))");
  app.add_option("--cache-type-k", options->cache_type_k, "(-ctk) K cache type: " + kv::cache_type_names())
      ->capture_default_str();
  app.add_option("--cache-type-v", options->cache_type_v, "(-ctv) V cache type: " + kv::cache_type_names())
      ->capture_default_str();
  app.add_option("--parallel", options->parallel, "(-np) parallel sequences sharing the context")
      ->capture_default_str();
  return [&app, options]() { return run_info(app, *options); };
}

const bool kRegistered = register_command(
    {"info", "describe a GGUF file: architecture, tensors, tokenizer, memory for weights + KV cache", 40,
     setup_info});

}  // namespace
}  // namespace strata::cli
