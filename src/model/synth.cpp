// Synthetic models: llama.cpp metadata and tensor names, random weights scaled to stay sane.
#include "model/synth.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <numbers>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "core/half.h"
#include "core/thread_pool.h"
#include "gguf/file.h"
#include "model/arch_tensors.h"
#include "model/demo_vocab.h"
#include "quant/random_blocks.h"

namespace strata::model {
namespace {

using quant::Type;

struct Preset {
  std::string_view name;
  uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
  float llama_rope_base;
};

// tiny is shaped like a real model (GQA, head size 64, K-quant friendly widths) but runs
// anywhere; 1b is TinyLlama-1.1B; 8b and 70b are Llama-3 8B and 70B.
constexpr Preset kPresets[] = {
    {"tiny", 256, 4, 4, 2, 768, 512, 2048, 10000.0f},
    {"1b", 2048, 22, 32, 4, 5632, 32000, 2048, 10000.0f},
    {"8b", 4096, 32, 32, 8, 14336, 128256, 8192, 500000.0f},
    {"70b", 8192, 80, 64, 8, 28672, 128256, 8192, 500000.0f},
};

// Past these a request is a typo, not a model (llama.cpp allows at most 512 blocks).
constexpr uint32_t kMaxLayers = 512;
constexpr uint32_t kMaxEmbd = 1u << 17;
constexpr uint32_t kMaxFf = 1u << 20;
constexpr uint32_t kMaxVocab = 1u << 24;
constexpr uint32_t kMaxHeads = 1u << 12;
constexpr size_t kMaxThreads = 256;

Status check_shapes(const HParams& hp) {
  auto at_most = [](std::string_view what, uint64_t value, uint64_t limit) -> Status {
    if (value > limit) return invalid_argument("{} {} is larger than synth supports (at most {})", what, value, limit);
    return {};
  };
  STRATA_TRY(at_most("n_layer", hp.n_layer, kMaxLayers));
  STRATA_TRY(at_most("n_embd", hp.n_embd, kMaxEmbd));
  STRATA_TRY(at_most("n_ff", hp.n_ff, kMaxFf));
  STRATA_TRY(at_most("n_vocab", hp.n_vocab, kMaxVocab));
  STRATA_TRY(at_most("n_head", hp.n_head, kMaxHeads));
  if (hp.n_head_kv > hp.n_head) {
    return invalid_argument("n_head_kv {} is more than n_head {}; use a divisor of n_head", hp.n_head_kv, hp.n_head);
  }
  if (hp.head_dim_k == 0 && hp.n_head != 0 && hp.n_embd % hp.n_head == 0 && (hp.n_embd / hp.n_head) % 2 != 0) {
    return invalid_argument("head size n_embd / n_head = {} is odd; rope needs an even head size",
                            hp.n_embd / hp.n_head);
  }
  return {};
}

// --- deterministic randomness: every row depends only on (seed, tensor name, row index), so
// the file is the same for any thread count.

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t name_hash(std::string_view name) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001B3ull;
  return h;
}

uint64_t row_seed(uint64_t tensor_seed, uint64_t row) { return mix64(tensor_seed + 0x9E3779B97F4A7C15ull * (row + 1)); }

// Uniform in [-1, 1) from a splitmix64 stream.
float next_uniform(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ull;
  return static_cast<float>(mix64(state) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

// --- what each tensor holds.
//
// Scales keep a random network numerically tame at any depth:
// * Every norm weight is about 1 (1 +- 10%), so each block sees inputs of RMS ~1.
// * Projections (q, k, v, o, gate, up, down) are uniform with std 1/sqrt(fan_in), fan_in being
//   the row length: a unit-RMS input gives unit-RMS outputs, attention scores q.k/sqrt(d) have
//   std ~1 (softmax neither uniform nor one-hot), and each block adds O(1) to the residual, so
//   after L blocks it is O(sqrt(L)): finite in f16 even for 80 layers.
// * token_embd has std 1, comparable with what one block adds, so the token still matters.
// * The head (output.weight) has std 3/sqrt(n_embd): with a unit-RMS final norm the logits get
//   std ~3 across the vocabulary, peaked enough that greedy decoding follows the context and
//   flat enough that it does not collapse onto one token. With tied embeddings the head is
//   token_embd (std 1), so output_norm carries the 3/sqrt(n_embd) factor instead.
// * qwen2's q/k/v biases are small (+-0.1) against the unit-scale projections.
// Uniform values in [-s, s] have std s/sqrt(3), hence the sqrt(3) factors below.
enum class FillKind { kUniform, kAroundOne, kFixed };

struct TensorFillSpec {
  FillKind kind = FillKind::kUniform;
  float scale = 1.0f;        // uniform: values in [-scale, scale]; around-one: the centre
  std::vector<float> fixed;  // kFixed: the single row
};

constexpr float kLogitStd = 3.0f;
const float kSqrt3 = std::sqrt(3.0f);

// Llama 3.1's rope scaling (factor 8, low/high frequency factors 1 and 4, original context
// 8192): long wavelengths are slowed by 8, short ones kept, the band between interpolated.
std::vector<float> llama3_rope_factors(uint32_t rope_dim, float freq_base) {
  constexpr double kFactor = 8.0, kLow = 1.0, kHigh = 4.0, kOldContext = 8192.0;
  const double low_wavelen = kOldContext / kLow;
  const double high_wavelen = kOldContext / kHigh;
  std::vector<float> factors(rope_dim / 2);
  for (uint32_t i = 0; i < rope_dim / 2; ++i) {
    const double freq = 1.0 / std::pow(static_cast<double>(freq_base), 2.0 * i / rope_dim);
    const double wavelen = 2.0 * std::numbers::pi / freq;
    double f;
    if (wavelen < high_wavelen) {
      f = 1.0;
    } else if (wavelen > low_wavelen) {
      f = kFactor;
    } else {
      const double smooth = (kOldContext / wavelen - kLow) / (kHigh - kLow);
      f = 1.0 / ((1.0 - smooth) / kFactor + smooth);
    }
    factors[i] = static_cast<float>(f);
  }
  return factors;
}

TensorFillSpec fill_spec(const TensorSpec& t, const HParams& hp) {
  const float n_embd = static_cast<float>(hp.n_embd);
  switch (t.role) {
    case TensorRole::kTokenEmbd: return {FillKind::kUniform, kSqrt3};
    case TensorRole::kOutput: return {FillKind::kUniform, kLogitStd * kSqrt3 / std::sqrt(n_embd)};
    case TensorRole::kOutputNorm:
      return {FillKind::kAroundOne, hp.tied_embeddings ? kLogitStd / std::sqrt(n_embd) : 1.0f};
    case TensorRole::kAttnNorm:
    case TensorRole::kFfnNorm: return {FillKind::kAroundOne, 1.0f};
    case TensorRole::kAttnQBias:
    case TensorRole::kAttnKBias:
    case TensorRole::kAttnVBias: return {FillKind::kUniform, 0.1f};
    case TensorRole::kRopeFreqs: {
      const uint32_t rope_dim = static_cast<uint32_t>(t.ne[0] * 2);
      return {FillKind::kFixed, 1.0f, llama3_rope_factors(rope_dim, hp.rope_freq_base)};
    }
    default: return {FillKind::kUniform, kSqrt3 / std::sqrt(static_cast<float>(t.ne[0]))};
  }
}

void store_float(Type type, float v, uint8_t* dst, uint64_t j) {
  if (type == Type::F32) {
    std::memcpy(dst + 4 * j, &v, 4);
  } else {
    const uint16_t h = type == Type::F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
    std::memcpy(dst + 2 * j, &h, 2);
  }
}

struct TensorJob {
  std::string name;
  Type type;
  uint64_t n_per_row;
  uint64_t row_bytes;
  uint64_t seed;
  TensorFillSpec spec;
};

Status write_row(const TensorJob& job, uint64_t row, uint8_t* dst) {
  const uint64_t n = job.n_per_row;
  switch (job.spec.kind) {
    case FillKind::kFixed:
      for (uint64_t j = 0; j < n; ++j) store_float(job.type, job.spec.fixed[j], dst, j);
      return {};
    case FillKind::kAroundOne: {
      uint64_t state = row_seed(job.seed, row);
      for (uint64_t j = 0; j < n; ++j) {
        store_float(job.type, job.spec.scale * (1.0f + 0.1f * next_uniform(state)), dst, j);
      }
      return {};
    }
    case FillKind::kUniform:
      if (quant::type_info(job.type).quantized) {
        return quant::fill_random_row(job.type, row_seed(job.seed, row), job.spec.scale, dst,
                                      static_cast<int64_t>(n));
      }
      uint64_t state = row_seed(job.seed, row);
      for (uint64_t j = 0; j < n; ++j) store_float(job.type, job.spec.scale * next_uniform(state), dst, j);
      return {};
  }
  return {};
}

// Rows split into a few groups per thread: balanced, and the first error wins.
Status parallel_rows(ThreadPool& pool, uint64_t n_rows, const std::function<Status(uint64_t)>& fn) {
  const uint64_t n_groups = std::min<uint64_t>(n_rows, pool.size() * 4);
  if (n_groups == 0) return {};
  std::vector<Status> errors(n_groups);
  pool.parallel_for(n_groups, [&](size_t g) {
    const uint64_t begin = n_rows * g / n_groups;
    const uint64_t end = n_rows * (g + 1) / n_groups;
    for (uint64_t r = begin; r < end; ++r) {
      Status s = fn(r);
      if (!s.ok()) {
        errors[g] = std::move(s);
        return;
      }
    }
  });
  for (Status& e : errors) {
    if (!e.ok()) return std::move(e);
  }
  return {};
}

Status add_demo_vocab(gguf::Writer& writer, uint32_t n_vocab) {
  STRATA_ASSIGN_OR_RETURN(DemoVocab vocab, make_demo_vocab(n_vocab));
  writer.set("tokenizer.ggml.model", gguf::Value::from_string("gpt2"));
  writer.set("tokenizer.ggml.pre", gguf::Value::from_string("default"));
  writer.set("tokenizer.ggml.tokens", gguf::Value::from_string_array(std::move(vocab.tokens)));
  writer.set("tokenizer.ggml.token_type", gguf::Value::from_i32_array(vocab.token_types));
  writer.set("tokenizer.ggml.merges", gguf::Value::from_string_array(std::move(vocab.merges)));
  writer.set("tokenizer.ggml.bos_token_id", gguf::Value::from_u32(vocab.bos_id));
  writer.set("tokenizer.ggml.eos_token_id", gguf::Value::from_u32(vocab.eos_id));
  writer.set("tokenizer.ggml.eot_token_id", gguf::Value::from_u32(vocab.eot_id));
  writer.set("tokenizer.ggml.add_bos_token", gguf::Value::from_bool(true));
  writer.set("tokenizer.ggml.add_eos_token", gguf::Value::from_bool(false));
  return {};
}

// The tokenizer.* keys of a vocabulary GGUF, in file order, and its token count.
struct FileVocab {
  std::vector<std::pair<std::string, gguf::Value>> keys;
  uint32_t n_tokens = 0;
};

Result<FileVocab> read_file_vocab(const std::filesystem::path& path) {
  STRATA_ASSIGN_OR_RETURN(gguf::File file, gguf::File::open(path));
  const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
  if (tokens == nullptr || !tokens->is_array() || tokens->array_type() != gguf::ValueType::kString) {
    return invalid_argument("vocabulary file '{}' has no tokenizer.ggml.tokens string array; use a GGUF with a vocabulary",
                            path.string());
  }
  if (tokens->array_size() == 0 || tokens->array_size() > kMaxVocab) {
    return invalid_argument("vocabulary file '{}' has {} tokens; synth supports 1 to {}", path.string(),
                            tokens->array_size(), kMaxVocab);
  }
  FileVocab vocab;
  vocab.n_tokens = static_cast<uint32_t>(tokens->array_size());
  for (const auto& [key, value] : file.metadata()) {
    if (key.starts_with("tokenizer.")) vocab.keys.emplace_back(key, value);
  }
  return vocab;
}

}  // namespace

std::string synth_preset_names() {
  std::string names;
  for (const Preset& p : kPresets) {
    if (!names.empty()) names += ", ";
    names += p.name;
  }
  return names;
}

Result<HParams> synth_preset(std::string_view preset, Arch arch) {
  for (const Preset& p : kPresets) {
    if (p.name != preset) continue;
    HParams hp;
    hp.arch = arch;
    hp.n_embd = p.n_embd;
    hp.n_layer = p.n_layer;
    hp.n_head = p.n_head;
    hp.n_head_kv = p.n_head_kv;
    hp.n_ff = p.n_ff;
    hp.n_vocab = p.n_vocab;
    hp.n_ctx_train = p.n_ctx;
    if (arch == Arch::kQwen2) {
      // Qwen2 checkpoints use a larger rope base, a smaller norm epsilon and neox rope.
      hp.rope_freq_base = 1000000.0f;
      hp.rms_norm_eps = 1e-6f;
      hp.rope_type = RopeType::kNeox;
    } else {
      hp.rope_freq_base = p.llama_rope_base;
      hp.rms_norm_eps = 1e-5f;
      hp.rope_type = RopeType::kNormal;
    }
    return hp;
  }
  return invalid_argument("unknown preset '{}'; valid presets: {}", preset, synth_preset_names());
}

Result<SynthSummary> synth_model(const SynthOptions& options, const std::filesystem::path& out,
                                 const gguf::WriteProgress& progress) {
  if (options.n_threads > kMaxThreads) {
    return invalid_argument("{} threads requested; synth uses at most {}", options.n_threads, kMaxThreads);
  }
  HParams hp = options.hparams;
  if (hp.n_head_kv == 0) hp.n_head_kv = hp.n_head;
  const std::string arch(arch_name(hp.arch));

  gguf::Writer writer;
  writer.set("general.architecture", gguf::Value::from_string(arch));
  writer.set("general.name", gguf::Value::from_string("strata synth (random weights)"));
  writer.set("general.file_type", gguf::Value::from_u32(options.target.file_type));
  writer.set("general.quantization_version", gguf::Value::from_u32(2));

  // The vocabulary decides n_vocab, so it is read before the shapes are fixed.
  FileVocab file_vocab;
  if (!options.vocab_path.empty()) {
    STRATA_ASSIGN_OR_RETURN(file_vocab, read_file_vocab(options.vocab_path));
    const uint32_t n_tokens = file_vocab.n_tokens;
    if (options.n_vocab_given && hp.n_vocab != n_tokens) {
      return invalid_argument("--n-vocab {} does not match the {} tokens of '{}'; drop --n-vocab or use {}", hp.n_vocab,
                              n_tokens, options.vocab_path.string(), n_tokens);
    }
    hp.n_vocab = n_tokens;
  }
  STRATA_TRY(check_shapes(hp));
  ArchTensorOptions tensor_options;
  tensor_options.rope_freqs = options.rope_freqs;
  STRATA_ASSIGN_OR_RETURN(const std::vector<TensorSpec> specs, arch_tensors(hp, tensor_options));
  // arch_tensors accepted the shapes, so n_head > 0 and the head sizes are consistent.
  const uint32_t head_k = hp.head_dim_k != 0 ? hp.head_dim_k : hp.n_embd / hp.n_head;
  const uint32_t rope_dim = hp.rope_dim != 0 ? hp.rope_dim : head_k;

  writer.set(arch + ".vocab_size", gguf::Value::from_u32(hp.n_vocab));
  writer.set(arch + ".context_length", gguf::Value::from_u32(hp.n_ctx_train));
  writer.set(arch + ".embedding_length", gguf::Value::from_u32(hp.n_embd));
  writer.set(arch + ".block_count", gguf::Value::from_u32(hp.n_layer));
  writer.set(arch + ".feed_forward_length", gguf::Value::from_u32(hp.n_ff));
  writer.set(arch + ".attention.head_count", gguf::Value::from_u32(hp.n_head));
  writer.set(arch + ".attention.head_count_kv", gguf::Value::from_u32(hp.n_head_kv));
  writer.set(arch + ".rope.freq_base", gguf::Value::from_f32(hp.rope_freq_base));
  writer.set(arch + ".rope.dimension_count", gguf::Value::from_u32(rope_dim));
  if (hp.head_dim_k != 0 || hp.head_dim_v != 0) {
    // Only models whose heads are not n_embd / n_head wide carry these keys.
    writer.set(arch + ".attention.key_length", gguf::Value::from_u32(head_k));
    writer.set(arch + ".attention.value_length", gguf::Value::from_u32(hp.head_dim_v != 0 ? hp.head_dim_v : head_k));
  }
  writer.set(arch + ".attention.layer_norm_rms_epsilon", gguf::Value::from_f32(hp.rms_norm_eps));

  if (options.vocab_path.empty()) {
    STRATA_TRY(add_demo_vocab(writer, hp.n_vocab));
    writer.set("tokenizer.chat_template", gguf::Value::from_string(std::string(demo_chat_template())));
  } else {
    for (auto& [key, value] : file_vocab.keys) writer.set(key, std::move(value));
  }
  if (options.chat_template) writer.set("tokenizer.chat_template", gguf::Value::from_string(*options.chat_template));

  // Tensor types: the same rules quantize applies to an F32 model of this shape.
  std::vector<TensorDesc> descs;
  descs.reserve(specs.size());
  for (const TensorSpec& s : specs) descs.push_back({s.name, s.ne, Type::F32});
  const MixModelInfo info{arch, hp.n_layer, hp.n_head, hp.n_head_kv};
  const std::vector<TensorChoice> choices = choose_tensor_types(descs, options.target, info);

  ThreadPool pool(std::max<size_t>(1, options.n_threads));
  SynthSummary summary;
  summary.n_vocab = hp.n_vocab;
  summary.n_tensors = specs.size();
  const uint64_t base_seed = mix64(options.seed ^ 0x5EED5EED5EED5EEDull);
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& s = specs[i];
    uint64_t n_elements = 1;
    for (uint64_t d : s.ne) n_elements *= d;
    summary.n_params += n_elements;
    if (!choices[i].note.empty() && summary.n_fallback++ == 0) {
      summary.first_fallback = fmt::format("tensor '{}': {}", s.name, choices[i].note);
    }
    STRATA_ASSIGN_OR_RETURN(const uint64_t rb, quant::row_bytes(choices[i].type, s.ne[0]));
    auto job = std::make_shared<TensorJob>(
        TensorJob{s.name, choices[i].type, s.ne[0], rb, mix64(base_seed ^ name_hash(s.name)), fill_spec(s, hp)});
    STRATA_TRY(writer.add_tensor(
        s.name, choices[i].type, s.ne,
        [job, &pool](std::span<uint8_t> dst, uint64_t row_begin, uint64_t n_rows) -> Status {
          if (dst.size() != n_rows * job->row_bytes) {
            return internal_error("synth: chunk of {} bytes for {} rows of '{}'", dst.size(), n_rows, job->name);
          }
          return parallel_rows(pool, n_rows, [&](uint64_t r) {
            return write_row(*job, row_begin + r, dst.data() + r * job->row_bytes);
          });
        }));
  }

  // Refuse up front rather than fail after writing most of a 40 GB file.
  std::error_code ec;
  const std::filesystem::path dir = out.has_parent_path() ? out.parent_path() : std::filesystem::path(".");
  const std::filesystem::space_info space = std::filesystem::space(dir, ec);
  if (!ec && space.available < writer.data_bytes()) {
    return make_error(ErrorCode::kResourceExhausted,
                      "writing '{}' needs {:.2f} GB but its filesystem has {:.2f} GB free; choose a smaller preset or type",
                      out.string(), writer.data_bytes() / 1e9, space.available / 1e9);
  }
  STRATA_TRY(writer.write(out, progress));
  summary.file_bytes = std::filesystem::file_size(out, ec);
  return summary;
}

}  // namespace strata::model
