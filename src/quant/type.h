// The GGUF/ggml tensor type table: ids as stored in files, block sizes, names.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "core/status.h"

namespace strata::quant {

// Values are the ggml type ids written in GGUF tensor infos; never renumber.
enum class Type : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22,
  IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};

struct TypeInfo {
  Type type;
  std::string_view name;   // ggml spelling: "f32", "q4_K", "iq4_nl"
  uint32_t block_size;     // elements per block
  uint32_t block_bytes;    // bytes per block
  bool quantized;          // block format (not plain f32/f16/bf16/int)
  bool can_dequantize;     // strata implements dequantize_row for it
  bool can_quantize;       // strata implements a reference quantize_row for it
};

// Every type a GGUF file may name, so sizes of tensors strata cannot compute with are
// still validated. nullopt for ids no ggml version has defined.
const TypeInfo* find_type(uint32_t id);
const TypeInfo& type_info(Type type);
std::string_view type_name(Type type);
std::span<const TypeInfo> all_types();

// Accepts the ggml spelling in any case ("q4_k", "Q4_K", "IQ4_NL").
std::optional<Type> type_from_name(std::string_view name);

// Bytes of a row of n elements; an error when n is not a multiple of the block size.
Result<uint64_t> row_bytes(Type type, uint64_t n);

}  // namespace strata::quant
