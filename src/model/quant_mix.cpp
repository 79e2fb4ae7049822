// Per-tensor quantization type rules, following llama.cpp's llama_tensor_get_type for the mixes
// strata offers, so a strata Q4_K_M file has the tensor types a llama-quantize one has.
#include "model/quant_mix.h"

#include <array>
#include <fmt/format.h>

namespace strata::model {
namespace {

using quant::Type;

struct TargetRow {
  std::string_view name;
  Type base;
  QuantMix mix;
  uint32_t file_type;  // llama_ftype (llama.h)
};

// Plain K-quant targets carry the "_S" file type (llama.cpp has no plain one): the closest
// description of a file that is mostly that type.
constexpr std::array kTargets = {
    TargetRow{"f32", Type::F32, QuantMix::kNone, 0},       TargetRow{"f16", Type::F16, QuantMix::kNone, 1},
    TargetRow{"bf16", Type::BF16, QuantMix::kNone, 32},    TargetRow{"q8_0", Type::Q8_0, QuantMix::kNone, 7},
    TargetRow{"q4_0", Type::Q4_0, QuantMix::kNone, 2},     TargetRow{"q4_1", Type::Q4_1, QuantMix::kNone, 3},
    TargetRow{"q5_0", Type::Q5_0, QuantMix::kNone, 8},     TargetRow{"q5_1", Type::Q5_1, QuantMix::kNone, 9},
    TargetRow{"q2_K", Type::Q2_K, QuantMix::kNone, 10},    TargetRow{"q3_K", Type::Q3_K, QuantMix::kNone, 11},
    TargetRow{"q4_K", Type::Q4_K, QuantMix::kNone, 14},    TargetRow{"q5_K", Type::Q5_K, QuantMix::kNone, 16},
    TargetRow{"q6_K", Type::Q6_K, QuantMix::kNone, 18},    TargetRow{"iq4_nl", Type::IQ4_NL, QuantMix::kNone, 25},
    TargetRow{"iq4_xs", Type::IQ4_XS, QuantMix::kNone, 30}, TargetRow{"q4_K_M", Type::Q4_K, QuantMix::kQ4_K_M, 15},
    TargetRow{"q5_K_M", Type::Q5_K, QuantMix::kQ5_K_M, 17},
};

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// ggml_n_dims: trailing dimensions of size 1 do not count.
size_t n_dims(const std::vector<uint64_t>& ne) {
  size_t n = ne.size();
  while (n > 1 && ne[n - 1] == 1) --n;
  return n == 0 ? 1 : n;
}

bool is_float_or_block(Type type) {
  const quant::TypeInfo& info = quant::type_info(type);
  return info.quantized || type == Type::F32 || type == Type::F16 || type == Type::BF16;
}

// Tensors llama.cpp keeps as they are whatever the target (tensor_allows_quantization):
// small or precision-critical ones. In a file with no architecture every matrix qualifies,
// so files of bare tensors (tests, tools) are quantized whatever their names.
bool allows_quantization(const TensorDesc& t, bool is_model) {
  if (n_dims(t.ne) < 2 || !is_float_or_block(t.type)) return false;
  const std::string_view name = t.name;
  if (is_model && !ends_with(name, "weight")) return false;
  static constexpr std::array kKeep = {
      "_norm.weight",       "ffn_gate_inp.weight", "altup",         "laurel",       "per_layer_model_proj",
      "position_embd",      "token_types.weight",  "ssm_conv1d",    "shortconv.conv.weight",
      "attn_rel_b.weight",  ".rel_pos",            ".patch_embd",   ".patch_merger", "codebook",
      "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
      "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
  };
  for (const char* keep : kKeep) {
    if (contains(name, keep)) return false;
  }
  return true;
}

enum class Category { kTokenEmbd, kOutput, kAttnV, kFfnDown, kOther };

Category category_of(std::string_view name) {
  if (name == "output.weight") return Category::kOutput;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Category::kTokenEmbd;
  // Fused qkv and MLA's kv_b carry V too: llama.cpp gives them attn_v's treatment.
  if (contains(name, "attn_qkv.weight") || contains(name, "attn_kv_b.weight") || contains(name, "attn_v.weight")) {
    return Category::kAttnV;
  }
  if (contains(name, "ffn_down")) return Category::kFfnDown;
  return Category::kOther;
}

// llama.cpp's use_more_bits: the first and last eighth of the layers and every third between.
bool use_more_bits(int64_t i_layer, int64_t n_layer) {
  return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

struct MixState {
  int64_t n_attn_v = 0;
  int64_t i_attn_v = 0;
  int64_t n_ffn_down = 0;
  int64_t i_ffn_down = 0;
  bool tied = true;       // no output.weight: token_embd is also the head
  bool is_70b = false;    // llama.cpp's LLM_TYPE_70B: GQA llama with 80 blocks
};

bool is_head(const MixState& s, Category cat) {
  return cat == Category::kOutput || (s.tied && cat == Category::kTokenEmbd);
}

// llama.cpp's rule for the output head, whatever the target: the head decides every token,
// so it gets Q6_K (Q8_0 targets keep Q8_0; rows that do not fit the base type's blocks
// take Q8_0). A Q4_0 file from llama-quantize has a Q6_K head, and so does strata's.
Type head_type(const TensorDesc& t, Type base) {
  if (base == Type::Q8_0 || t.ne[0] % quant::type_info(base).block_size != 0) return Type::Q8_0;
  return Type::Q6_K;
}

// The Q4_K_M / Q5_K_M branches of llama_tensor_get_type_impl for dense models.
Type mix_type(MixState& s, const TensorDesc& t, Category cat, Type base, QuantMix mix) {
  Type type = base;
  if (is_head(s, cat)) {
    type = head_type(t, base);
  } else if (cat == Category::kAttnV) {
    if (use_more_bits(s.i_attn_v, s.n_attn_v)) type = Type::Q6_K;
    if (s.is_70b && (type == Type::Q3_K || type == Type::Q4_K)) type = Type::Q5_K;
    ++s.i_attn_v;
  } else if (cat == Category::kFfnDown) {
    if (use_more_bits(s.i_ffn_down, s.n_ffn_down)) type = Type::Q6_K;
    ++s.i_ffn_down;
  }
  (void)mix;  // both mixes share these rules; they differ only in the base type
  return type;
}

// llama.cpp's tensor_type_fallback: the nearest type whose block fits the row, else F16.
TensorChoice fallback(const TensorDesc& t, Type type) {
  const uint64_t ncols = t.ne[0];
  const uint32_t block = quant::type_info(type).block_size;
  if (ncols % block == 0) return {type, {}};
  Type next = Type::F16;
  switch (type) {
    case Type::IQ4_XS: next = Type::IQ4_NL; break;
    case Type::Q2_K:
    case Type::Q3_K: next = Type::Q4_0; break;
    case Type::Q4_K: next = Type::Q5_0; break;
    case Type::Q5_K: next = Type::Q5_1; break;
    case Type::Q6_K: next = Type::Q8_0; break;
    default: break;
  }
  if (ncols % quant::type_info(next).block_size != 0) next = Type::F16;
  return {next, fmt::format("row length {} is not a multiple of {} (the block size of {}); using {}", ncols, block,
                            quant::type_name(type), quant::type_name(next))};
}

}  // namespace

Result<QuantTarget> parse_quant_target(std::string_view name) {
  for (const TargetRow& row : kTargets) {
    if (equals_ignore_case(row.name, name)) return QuantTarget{std::string(row.name), row.base, row.mix, row.file_type};
  }
  return invalid_argument("unknown type '{}'; valid types: {}", name, quant_target_names());
}

std::string quant_target_names() {
  std::string names;
  for (const TargetRow& row : kTargets) {
    if (!names.empty()) names += ", ";
    names += row.name;
  }
  return names;
}

MixModelInfo mix_model_info(const gguf::File& file) {
  MixModelInfo info;
  info.arch = file.architecture();
  if (info.arch.empty()) return info;
  auto read = [&](const std::string& key) -> uint32_t {
    auto value = file.get_uint(key);
    return (value.ok() && *value <= UINT32_MAX) ? static_cast<uint32_t>(*value) : 0;
  };
  info.n_layer = read(info.arch + ".block_count");
  info.n_head = read(info.arch + ".attention.head_count");
  info.n_head_kv = read(info.arch + ".attention.head_count_kv");
  if (info.n_head_kv == 0) info.n_head_kv = info.n_head;
  return info;
}

std::vector<TensorChoice> choose_tensor_types(std::span<const TensorDesc> tensors, const QuantTarget& target,
                                              const MixModelInfo& model) {
  const bool is_model = !model.arch.empty();
  MixState state;
  int64_t ffn_down_seen = 0;
  for (const TensorDesc& t : tensors) {
    const Category cat = category_of(t.name);
    if (cat == Category::kAttnV) ++state.n_attn_v;
    if (cat == Category::kFfnDown) ++ffn_down_seen;
    if (cat == Category::kOutput) state.tied = false;
  }
  // llama.cpp counts ffn_down layers as the block count; bare files have none, so count tensors.
  state.n_ffn_down = model.n_layer > 0 ? model.n_layer : ffn_down_seen;
  state.is_70b = model.arch == "llama" && model.n_layer == 80 && model.n_head != model.n_head_kv;

  const bool quantized_target = quant::type_info(target.base).quantized;
  std::vector<TensorChoice> choices;
  choices.reserve(tensors.size());
  for (const TensorDesc& t : tensors) {
    if (!allows_quantization(t, is_model)) {
      choices.push_back({t.type, {}});
      continue;
    }
    if (!quantized_target) {
      choices.push_back({target.base, {}});
      continue;
    }
    Type type = target.base;
    const Category cat = category_of(t.name);
    if (target.mix != QuantMix::kNone) {
      type = mix_type(state, t, cat, target.base, target.mix);
    } else if (is_model && is_head(state, cat)) {
      type = head_type(t, target.base);
    }
    choices.push_back(fallback(t, type));
  }
  return choices;
}

}  // namespace strata::model
