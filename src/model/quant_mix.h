// Quantization targets (q8_0, q4_K_M, ...) and the per-tensor type rules llama-quantize applies.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "gguf/file.h"
#include "quant/type.h"

namespace strata::model {

enum class QuantMix {
  kNone,    // every quantizable tensor gets the base type (llama-quantize --pure)
  kQ4_K_M,  // llama.cpp's Q4_K_M rules over a Q4_K base
  kQ5_K_M,  // llama.cpp's Q5_K_M rules over a Q5_K base
};

struct QuantTarget {
  std::string name;     // canonical spelling: "q8_0", "q4_K_M", "bf16"
  quant::Type base;     // type of tensors no rule singles out
  QuantMix mix = QuantMix::kNone;
  uint32_t file_type;   // llama_ftype number written as general.file_type
};

// Case-insensitive; the error lists every valid target.
Result<QuantTarget> parse_quant_target(std::string_view name);
// "f32, f16, bf16, q8_0, ..., q4_K_M, q5_K_M"
std::string quant_target_names();

// What the rules need to know about the model; empty for a file of bare tensors.
struct MixModelInfo {
  std::string arch;  // general.architecture, "" when absent
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
};
MixModelInfo mix_model_info(const gguf::File& file);

struct TensorDesc {
  std::string name;
  std::vector<uint64_t> ne;
  quant::Type type;  // current type (synth describes its tensors as F32)
};

struct TensorChoice {
  quant::Type type;  // type to write
  std::string note;  // non-empty when the shape forced a fallback type: says why
};

// One choice per tensor, in order. Vectors (norms, biases, rope factors), integer tensors and
// tensors llama.cpp never quantizes keep their type; the rest get the target's type by its
// rules, then a compatible type when the row length is not a multiple of its block size.
std::vector<TensorChoice> choose_tensor_types(std::span<const TensorDesc> tensors, const QuantTarget& target,
                                              const MixModelInfo& model);

}  // namespace strata::model
