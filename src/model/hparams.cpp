// Hyperparameters from GGUF metadata, with llama.cpp's key names and defaults.
#include "model/hparams.h"

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace strata::model {
namespace {

constexpr Arch kArchs[] = {Arch::kLlama, Arch::kQwen2};

std::string supported_arch_list() {
  std::string out;
  for (Arch arch : kArchs) {
    if (!out.empty()) out += ", ";
    out += arch_name(arch);
  }
  return out;
}

std::string shown(const gguf::Value& value) { return value.to_display(4); }

// An integer key that may also be stored as a per-layer array (llama.cpp allows that for
// head counts and n_ff); strata's architectures use one value for every layer.
Result<std::optional<uint32_t>> find_u32(const gguf::File& file, const std::string& key) {
  const gguf::Value* value = file.find(key);
  if (value == nullptr) return std::optional<uint32_t>{};
  std::optional<uint64_t> number;
  if (value->is_array()) {
    const std::optional<std::vector<int64_t>> items = value->to_i64_vector();
    if (!items.has_value() || items->empty()) {
      return invalid_argument("{} is {} ({}); expected an unsigned integer", key, shown(*value),
                              gguf::value_type_name(value->type()));
    }
    for (int64_t item : *items) {
      if (item != items->front()) {
        return unsupported("{} varies per layer ({}); strata needs one value for every layer", key,
                           shown(*value));
      }
    }
    if (items->front() >= 0) number = static_cast<uint64_t>(items->front());
  } else {
    number = value->as_uint();
  }
  if (!number.has_value()) {
    return invalid_argument("{} is {} ({}); expected an unsigned integer", key, shown(*value),
                            gguf::value_type_name(value->type()));
  }
  if (*number > std::numeric_limits<uint32_t>::max()) {
    return invalid_argument("{} is {}; the largest value strata accepts is {}", key, *number,
                            std::numeric_limits<uint32_t>::max());
  }
  return std::optional<uint32_t>{static_cast<uint32_t>(*number)};
}

Result<uint32_t> require_u32(const gguf::File& file, const std::string& key) {
  STRATA_ASSIGN_OR_RETURN(std::optional<uint32_t> value, find_u32(file, key));
  if (!value.has_value()) return not_found("metadata key {} is missing; a model file needs it", key);
  return *value;
}

Result<std::optional<double>> find_number(const gguf::File& file, const std::string& key) {
  const gguf::Value* value = file.find(key);
  if (value == nullptr) return std::optional<double>{};
  const std::optional<double> number = value->as_number();
  if (!number.has_value()) {
    return invalid_argument("{} is {} ({}); expected a number", key, shown(*value),
                            gguf::value_type_name(value->type()));
  }
  return number;
}

Status require_positive(std::string_view key, uint64_t value) {
  if (value == 0) return invalid_argument("{} is 0; it must be at least 1", key);
  return {};
}

Result<uint32_t> read_n_vocab(const gguf::File& file, const std::string& prefix) {
  if (const gguf::Value* tokens = file.find("tokenizer.ggml.tokens"); tokens != nullptr) {
    if (!tokens->is_array() || tokens->array_type() != gguf::ValueType::kString) {
      return invalid_argument("tokenizer.ggml.tokens is {}; expected an array of strings",
                              gguf::value_type_name(tokens->type()));
    }
    const size_t n = tokens->array_size();
    if (n == 0) return invalid_argument("tokenizer.ggml.tokens is empty; a vocabulary needs at least one token");
    if (n > std::numeric_limits<uint32_t>::max()) {
      return invalid_argument("tokenizer.ggml.tokens has {} tokens; at most {} are supported", n,
                              std::numeric_limits<uint32_t>::max());
    }
    return static_cast<uint32_t>(n);
  }
  const std::string key = prefix + "vocab_size";
  STRATA_ASSIGN_OR_RETURN(std::optional<uint32_t> vocab_size, find_u32(file, key));
  if (vocab_size.has_value()) {
    STRATA_TRY(require_positive(key, *vocab_size));
    return *vocab_size;
  }
  if (const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight"); embd != nullptr) {
    if (embd->ne.size() < 2 || embd->ne[1] == 0 || embd->ne[1] > std::numeric_limits<uint32_t>::max()) {
      return invalid_argument("token_embd.weight has {} dims (rows {}); expected [n_embd, n_vocab] with "
                              "1 to {} rows",
                              embd->ne.size(), embd->ne.size() < 2 ? 0 : embd->ne[1],
                              std::numeric_limits<uint32_t>::max());
    }
    return static_cast<uint32_t>(embd->ne[1]);
  }
  return not_found("vocabulary size unknown: no tokenizer.ggml.tokens, no {} and no token_embd.weight tensor",
                   key);
}

}  // namespace

std::string_view arch_name(Arch arch) {
  switch (arch) {
    case Arch::kLlama: return "llama";
    case Arch::kQwen2: return "qwen2";
  }
  return "unknown";
}

Result<Arch> arch_from_name(std::string_view name) {
  for (Arch arch : kArchs) {
    if (arch_name(arch) == name) return arch;
  }
  return unsupported("architecture '{}' is not supported; supported architectures: {}", name,
                     supported_arch_list());
}

Result<HParams> read_hparams(const gguf::File& file) {
  const gguf::Value* arch_value = file.find("general.architecture");
  if (arch_value == nullptr) {
    return not_found("metadata key general.architecture is missing, so this is not a model file (a "
                     "vocabulary or bare tensors?); supported architectures: {}",
                     supported_arch_list());
  }
  const std::string* arch_string = arch_value->as_string();
  if (arch_string == nullptr) {
    return invalid_argument("general.architecture is {} ({}); expected a string such as {}", shown(*arch_value),
                            gguf::value_type_name(arch_value->type()), supported_arch_list());
  }

  HParams hp;
  STRATA_ASSIGN_OR_RETURN(hp.arch, arch_from_name(*arch_string));
  // Llama-family GGUFs (Llama 2/3, Mistral, DeepSeek-R1-Distill-Llama) rotate adjacent pairs;
  // Qwen2 rotates the two halves of each head (GPT-NeoX style).
  hp.rope_type = hp.arch == Arch::kQwen2 ? RopeType::kNeox : RopeType::kNormal;
  if (const gguf::Value* name = file.find("general.name"); name != nullptr && name->as_string() != nullptr) {
    hp.name = *name->as_string();
  }

  const std::string p = std::string(*arch_string) + ".";
  STRATA_ASSIGN_OR_RETURN(hp.n_ctx_train, require_u32(file, p + "context_length"));
  STRATA_ASSIGN_OR_RETURN(hp.n_embd, require_u32(file, p + "embedding_length"));
  STRATA_ASSIGN_OR_RETURN(hp.n_layer, require_u32(file, p + "block_count"));
  STRATA_ASSIGN_OR_RETURN(hp.n_ff, require_u32(file, p + "feed_forward_length"));
  STRATA_ASSIGN_OR_RETURN(hp.n_head, require_u32(file, p + "attention.head_count"));
  STRATA_TRY(require_positive(p + "context_length", hp.n_ctx_train));
  STRATA_TRY(require_positive(p + "embedding_length", hp.n_embd));
  STRATA_TRY(require_positive(p + "block_count", hp.n_layer));
  STRATA_TRY(require_positive(p + "feed_forward_length", hp.n_ff));
  STRATA_TRY(require_positive(p + "attention.head_count", hp.n_head));

  STRATA_ASSIGN_OR_RETURN(std::optional<uint32_t> n_head_kv, find_u32(file, p + "attention.head_count_kv"));
  hp.n_head_kv = n_head_kv.value_or(hp.n_head);
  STRATA_TRY(require_positive(p + "attention.head_count_kv", hp.n_head_kv));
  if (hp.n_head % hp.n_head_kv != 0) {
    return invalid_argument("{}attention.head_count_kv is {}, which does not divide {}attention.head_count {}; "
                            "grouped-query attention needs a divisor of {}",
                            p, hp.n_head_kv, p, hp.n_head, hp.n_head);
  }

  STRATA_ASSIGN_OR_RETURN(std::optional<uint32_t> key_length, find_u32(file, p + "attention.key_length"));
  if (key_length.has_value()) {
    STRATA_TRY(require_positive(p + "attention.key_length", *key_length));
    hp.head_dim_k = *key_length;
  } else {
    if (hp.n_embd % hp.n_head != 0) {
      return invalid_argument("{}embedding_length {} is not a multiple of {}attention.head_count {}, and no "
                              "{}attention.key_length gives the head dim",
                              p, hp.n_embd, p, hp.n_head, p);
    }
    hp.head_dim_k = hp.n_embd / hp.n_head;
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<uint32_t> value_length, find_u32(file, p + "attention.value_length"));
  hp.head_dim_v = value_length.value_or(hp.head_dim_k);
  STRATA_TRY(require_positive(p + "attention.value_length", hp.head_dim_v));

  STRATA_ASSIGN_OR_RETURN(std::optional<uint32_t> rope_dim, find_u32(file, p + "rope.dimension_count"));
  hp.rope_dim = rope_dim.value_or(hp.head_dim_k);
  if (hp.rope_dim == 0 || hp.rope_dim % 2 != 0 || hp.rope_dim > hp.head_dim_k) {
    return invalid_argument("{}rope.dimension_count is {}; it must be even and between 2 and the head dim {}", p,
                            hp.rope_dim, hp.head_dim_k);
  }

  STRATA_ASSIGN_OR_RETURN(std::optional<double> eps, find_number(file, p + "attention.layer_norm_rms_epsilon"));
  if (eps.has_value()) {
    if (!std::isfinite(*eps) || *eps <= 0.0 || *eps >= 1.0) {
      return invalid_argument("{}attention.layer_norm_rms_epsilon is {}; expected a small positive number such "
                              "as 1e-5 or 1e-6",
                              p, *eps);
    }
    hp.rms_norm_eps = static_cast<float>(*eps);
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<double> freq_base, find_number(file, p + "rope.freq_base"));
  if (freq_base.has_value()) {
    if (!std::isfinite(*freq_base) || *freq_base <= 1.0 || *freq_base > 1e12) {
      return invalid_argument("{}rope.freq_base is {}; expected a number above 1 such as 10000 or 500000", p,
                              *freq_base);
    }
    hp.rope_freq_base = static_cast<float>(*freq_base);
  }

  STRATA_ASSIGN_OR_RETURN(hp.n_vocab, read_n_vocab(file, p));
  hp.tied_embeddings = file.find_tensor("output.weight") == nullptr;
  return hp;
}

}  // namespace strata::model
