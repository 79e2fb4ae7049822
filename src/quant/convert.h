// Reference dequantize and quantize of one row, for every supported block format.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "quant/type.h"

namespace strata::quant {

// dst receives n floats from n elements of `type` at src (n a multiple of the block size).
// Bit-exact with ggml's dequantize_row_<type> (each multiply and add rounded separately).
Status dequantize_row(Type type, const void* src, float* dst, int64_t n);

// Reference quantizer (what llama-quantize does without an importance matrix); for iq4_nl
// the chunk quantizer's scale search. dst must hold row_bytes(type, n) bytes.
Status quantize_row(Type type, const float* src, void* dst, int64_t n);

}  // namespace strata::quant
