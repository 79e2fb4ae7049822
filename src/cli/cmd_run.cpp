// `strata run`: load a model (CPU, or GPUs with -ngl), run a prompt as one batch and generate tokens.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "cli/command.h"
#include "cli/compute_backend.h"
#include "engine/end_tokens.h"
#include "engine/generator.h"
#include "gguf/file.h"
#include "kv/cache_type.h"
#include "kv/context_size.h"
#include "kv/kv_memory.h"
#include "model/hparams.h"
#include "model/model.h"
#include "sampling/sampling_params.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace strata::cli {
namespace {

constexpr size_t kMaxBatch = 512;          // prompt tokens per forward pass, as llama.cpp's default -ub

struct RunArgs {
  std::string model;
  std::optional<std::string> prompt;
  std::optional<std::string> tokens;
  int64_t n_predict = 32;
  float temperature = 0.8f;
  int32_t top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  int64_t seed = -1;
  std::optional<int64_t> ctx;
  std::string cache_type_k = "f16";
  std::string cache_type_v = "f16";
  std::string flash_attn = "auto";
  int64_t threads = std::max(1u, std::thread::hardware_concurrency());
  int64_t n_gpu_layers = 0;
  std::string device = "auto";
  std::string tensor_split;
  std::string logits_out;
  bool json = false;
  bool ignore_eos = false;
};

// Checked settings, before the model file is opened.
struct RunSettings {
  quant::Type type_k;
  quant::Type type_v;
  bool flash = true;
  int n_threads = 1;
  sampling::SamplingParams sampling;
};

Result<std::vector<int32_t>> parse_token_list(std::string_view text) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '[' || c == ']'; };
  while (pos < text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(pos, end - pos);
    while (!item.empty() && is_space(item.front())) item.remove_prefix(1);
    while (!item.empty() && is_space(item.back())) item.remove_suffix(1);
    int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc() || ptr != item.data() + item.size() || value < 0 ||
        value > INT32_MAX) {
      return invalid_argument("--tokens: '{}' is not a token id; give non-negative integers separated by commas, "
                              "e.g. --tokens 1,450,4996",
                              item);
    }
    ids.push_back(static_cast<int32_t>(value));
    pos = end + 1;
  }
  if (ids.empty()) return invalid_argument("--tokens is empty; give at least one token id, e.g. --tokens 1,450");
  return ids;
}

Result<RunSettings> validate(const RunArgs& args, bool prompt_given, bool tokens_given) {
  if (prompt_given == tokens_given) {
    return invalid_argument("give the prompt with exactly one of -p TEXT or --tokens 1,2,3");
  }
  RunSettings s;
  STRATA_ASSIGN_OR_RETURN(s.type_k, kv::parse_cache_type(args.cache_type_k));
  STRATA_ASSIGN_OR_RETURN(s.type_v, kv::parse_cache_type(args.cache_type_v));
  if (args.flash_attn == "on" || args.flash_attn == "auto" || args.flash_attn == "1") {
    s.flash = true;  // auto: flash attention supports every K/V pair on the CPU
  } else if (args.flash_attn == "off" || args.flash_attn == "0") {
    s.flash = false;
  } else {
    return invalid_argument("-fa '{}' is not a flash attention setting; use on, off or auto", args.flash_attn);
  }
  if (args.threads < 1 || args.threads > backend::cpu::kMaxThreads) {
    return invalid_argument("-t {} is out of range; use 1 to {} threads (this machine has {} CPUs)", args.threads,
                            backend::cpu::kMaxThreads, std::thread::hardware_concurrency());
  }
  s.n_threads = static_cast<int>(args.threads);
  if (args.n_predict < 0 || args.n_predict > INT32_MAX) {
    return invalid_argument("-n {} is out of range; give the number of tokens to generate, 0 or more", args.n_predict);
  }
  if (args.ctx && *args.ctx < 0) {
    return invalid_argument("-c {} is negative; give a number of cells, or 0 for the model's training context",
                            *args.ctx);
  }
  if (args.seed < -1 || args.seed > UINT32_MAX) {
    return invalid_argument("--seed {} is out of range; use 0 to {}, or -1 for a random seed", args.seed, UINT32_MAX);
  }
  s.sampling.temperature = args.temperature;
  s.sampling.top_k = args.top_k;
  s.sampling.top_p = args.top_p;
  s.sampling.min_p = args.min_p;
  s.sampling.seed = args.seed == -1 ? sampling::kRandomSeed : static_cast<uint32_t>(args.seed);
  return s;
}

Status write_logits(const std::string& path, const std::vector<float>& logits) {
  static_assert(std::endian::native == std::endian::little, "--logits-out writes the host's floats as little-endian");
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!file) return io_error("cannot open '{}' for writing the logits", path);
  if (std::fwrite(logits.data(), sizeof(float), logits.size(), file.get()) != logits.size()) {
    return io_error("writing {} floats of logits to '{}' failed", logits.size(), path);
  }
  if (std::fclose(file.release()) != 0) return io_error("closing '{}' after writing the logits failed", path);
  return {};
}

Status print(std::string_view text) {
  if (text.empty()) return {};
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
    return io_error("writing to standard output failed");
  }
  return {};
}

double per_second(int64_t n, double ms) { return ms > 0.0 ? static_cast<double>(n) * 1000.0 / ms : 0.0; }

Status run(const RunArgs& args, bool prompt_given, bool tokens_given) {
  STRATA_ASSIGN_OR_RETURN(const RunSettings settings, validate(args, prompt_given, tokens_given));

  auto file = gguf::File::open(args.model);
  if (!file.ok()) return file.status();
  auto hp = model::read_hparams(*file);
  if (!hp.ok()) return hp.status().with_context(fmt::format("'{}'", args.model));

  std::optional<tokenizer::Tokenizer> tok;
  if (auto created = tokenizer::Tokenizer::from_gguf(*file); created.ok()) {
    tok = std::move(*created);
  } else if (prompt_given) {
    return created.status().with_context(fmt::format("-p needs the model's vocabulary, but '{}'", args.model));
  }

  std::vector<int32_t> prompt;
  if (prompt_given) {
    // As llama.cpp's tools: BOS as the vocabulary says, and control-token text becomes tokens.
    STRATA_ASSIGN_OR_RETURN(prompt, tok->tokenize(*args.prompt, {.add_special = true, .parse_special = true}));
    if (prompt.empty()) return invalid_argument("the prompt gives no tokens; give some text with -p");
  } else {
    STRATA_ASSIGN_OR_RETURN(prompt, parse_token_list(*args.tokens));
  }

  kv::KvConfig kv;
  kv.n_seq = 1;
  kv.type_k = settings.type_k;
  kv.type_v = settings.type_v;
  kv.n_ctx = kv::context_cells(args.ctx ? std::optional<uint64_t>(static_cast<uint64_t>(*args.ctx)) : std::nullopt, hp->n_ctx_train);
  // Refuse impossible settings before loading anything.
  const kv::KvShape shape{hp->n_layer, hp->n_head_kv, hp->head_dim_k, hp->head_dim_v};
  STRATA_ASSIGN_OR_RETURN(const kv::KvMemory kv_memory, kv::estimate_kv_memory(shape, kv));
  if (prompt.size() > kv.n_ctx) {
    return invalid_argument("the prompt has {} tokens, more than the context of {} cells; use -c {} or more",
                            prompt.size(), kv.n_ctx, prompt.size() + static_cast<uint64_t>(args.n_predict));
  }
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (static_cast<uint64_t>(prompt[i]) >= hp->n_vocab) {
      return invalid_argument("prompt token {} (at index {}) is not in the vocabulary of {} tokens (ids 0 to {})",
                              prompt[i], i, hp->n_vocab, hp->n_vocab - 1);
    }
  }

  ComputeOptions compute;
  compute.n_gpu_layers = args.n_gpu_layers;
  compute.device = args.device;
  compute.tensor_split = args.tensor_split;
  compute.threads = settings.n_threads;
  STRATA_ASSIGN_OR_RETURN(const ComputeBackends backends, ComputeBackends::create(compute, hp->n_layer));
  STRATA_TRY(backends.check_kv_types(kv.type_k, kv.type_v, static_cast<int>(hp->head_dim_k)));
  // Each device holds the KV rows of its own layers.
  const model::DevicePlacement& placement = backends.placement();
  for (const model::DeviceStage& stage : placement.stages) {
    const uint64_t memory = backends.device_backend(stage.device).capabilities().memory_bytes;
    const uint64_t kv_bytes = kv_memory.total_bytes() / hp->n_layer * stage.layers.size();
    if (memory > 0 && kv_bytes > memory) {
      const model::Device& device = placement.devices[stage.device];
      return resource_exhausted("a KV cache of {} cells needs {:.1f} GiB{}, more than {} {:.1f} GiB; use a smaller "
                                "-c or quantized cache types (-ctk/-ctv q8_0, q4_0)",
                                kv.n_ctx, static_cast<double>(kv_bytes) / (1 << 30),
                                device.is_gpu() ? " on " + device.name() : "",
                                device.is_gpu() ? "its" : "this machine's", static_cast<double>(memory) / (1 << 30));
    }
  }
  model::ModelConfig config;
  config.kv = kv;
  config.flash_attn = settings.flash;
  // Longer prompts run in pieces of kMaxBatch tokens, which bounds the scratch memory.
  config.n_batch = static_cast<uint32_t>(std::min<size_t>(prompt.size(), kMaxBatch));
  config.n_outputs = args.logits_out.empty() ? 1 : config.n_batch;
  auto loaded = load_local_model(*file, backends, config);
  if (!loaded.ok()) return loaded.status().with_context(fmt::format("loading '{}'", args.model));
  model::Model& model = **loaded;

  engine::GenerateOptions options;
  options.n_predict = static_cast<int32_t>(args.n_predict);
  options.sampling = settings.sampling;
  options.prompt_logits = !args.logits_out.empty();
  if (!args.ignore_eos) options.end_tokens = engine::end_of_generation_tokens(*file, tok ? &*tok : nullptr);

  std::optional<tokenizer::StreamDecoder> decoder;
  if (tok) decoder.emplace(*tok);
  std::string text;
  if (!args.json && prompt_given) {
    STRATA_TRY(print(*args.prompt));
    std::fflush(stdout);
  }
  auto on_token = [&](int32_t token) -> Status {
    if (!decoder) return {};
    auto piece = decoder->push(token);
    if (!piece.ok()) return piece.status();
    text += *piece;
    if (!args.json) {
      STRATA_TRY(print(*piece));
      std::fflush(stdout);
    }
    return {};
  };
  STRATA_ASSIGN_OR_RETURN(engine::GenerateResult result, engine::generate(model, prompt, options, on_token));
  if (decoder) {
    const std::string rest = decoder->finish();
    text += rest;
    if (!args.json) STRATA_TRY(print(rest));
  }
  if (!args.logits_out.empty()) STRATA_TRY(write_logits(args.logits_out, result.prompt_logits));

  if (args.json) {
    nlohmann::ordered_json out;
    out["prompt_tokens"] = prompt;
    out["generated"] = result.generated;
    out["text"] = text;
    out["stop"] = result.ended_by_token ? "eos" : result.ended_by_context ? "context" : "length";
    out["timings"] = {
        {"prompt_n", result.n_prompt},
        {"prompt_ms", result.prompt_ms},
        {"prompt_per_second", per_second(result.n_prompt, result.prompt_ms)},
        {"predicted_n", static_cast<int64_t>(result.generated.size())},
        {"decode_n", result.n_decode},
        {"decode_ms", result.decode_ms},
        {"decode_per_second", per_second(result.n_decode, result.decode_ms)},
    };
    out["settings"] = {
        {"n_ctx", kv.n_ctx},
        {"cache_type_k", quant::type_name(kv.type_k)},
        {"cache_type_v", quant::type_name(kv.type_v)},
        {"flash_attn", settings.flash},
        {"threads", settings.n_threads},
        {"seed", options.sampling.seed},
    };
    STRATA_TRY(print(out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"));
  } else {
    STRATA_TRY(print("\n"));
    std::fprintf(stderr,
                 "prompt: %lld tokens in %.1f ms (%.2f tokens/s); generation: %zu tokens, %lld decode steps in "
                 "%.1f ms (%.2f tokens/s)\n",
                 static_cast<long long>(result.n_prompt), result.prompt_ms,
                 per_second(result.n_prompt, result.prompt_ms), result.generated.size(),
                 static_cast<long long>(result.n_decode), result.decode_ms,
                 per_second(result.n_decode, result.decode_ms));
  }
  if (std::fflush(stdout) != 0) return io_error("writing to standard output failed");
  return {};
}

const bool kRegistered = register_command({
    .name = "run",
    .description = "run a prompt through a model (CPU, or GPUs with -ngl) and generate tokens",
    .order = 20,
    .setup =
        [](CLI::App& app) {
          auto args = std::make_shared<RunArgs>();
          app.add_option("-m,--model", args->model, "GGUF model file")->required();
          CLI::Option* prompt = app.add_option("-p,--prompt", args->prompt, "prompt text (tokenized with BOS as the "
                                                                            "vocabulary says)");
          CLI::Option* tokens = app.add_option("--tokens", args->tokens, "prompt as token ids: 1,450,4996");
          app.add_option("-n,--n-predict", args->n_predict, "tokens to generate")->capture_default_str();
          app.add_option("--temp", args->temperature, "temperature; 0 is greedy")->capture_default_str();
          app.add_option("--top-k", args->top_k, "top-k sampling; 0 is off")->capture_default_str();
          app.add_option("--top-p", args->top_p, "top-p sampling; 1 is off")->capture_default_str();
          app.add_option("--min-p", args->min_p, "min-p sampling; 0 is off")->capture_default_str();
          app.add_option("-s,--seed", args->seed, "random seed; -1 picks one")->capture_default_str();
          app.add_option("-c,--ctx-size", args->ctx,
                         "context cells (default: the training context, at most 4096; 0: the training context)");
          app.add_option("--cache-type-k", args->cache_type_k, "(-ctk) K cache type: " + kv::cache_type_names())
              ->capture_default_str();
          app.add_option("--cache-type-v", args->cache_type_v, "(-ctv) V cache type: " + kv::cache_type_names())
              ->capture_default_str();
          app.add_option("--flash-attn", args->flash_attn, "(-fa) flash attention: on, off or auto")
              ->capture_default_str();
          app.add_option("-t,--threads", args->threads, "CPU threads")->capture_default_str();
          add_compute_flags(app, args->n_gpu_layers, args->device, &args->tensor_split);
          app.add_option("--logits-out", args->logits_out,
                         "write the prompt's logits (float32 little-endian, n_prompt x n_vocab) to this file");
          app.add_flag("--json", args->json, "print one JSON object: tokens, text and timings");
          app.add_flag("--ignore-eos", args->ignore_eos, "keep generating after an end-of-generation token");
          return [args, prompt, tokens]() { return run(*args, prompt->count() > 0, tokens->count() > 0); };
        },
});

}  // namespace
}  // namespace strata::cli
