// Per-format reference converters behind dequantize_row / quantize_row (internal to quant/).
// All take whole blocks; pointers are aligned for their block struct (convert.cpp ensures it).
#pragma once

#include <cstdint>
#include <cstring>

#include "quant/blocks.h"
#include "quant/half_row.h"

namespace strata::quant::detail {

// Nearest integer (ties to even) exactly as ggml computes it: adding 1.5 * 2^23 leaves the
// rounded value in the low mantissa bits. Outside +-2^22 (or for NaN/inf) the result is
// garbage but deterministic, which is what keeps quantized bytes identical to ggml's.
inline int nearest_int(float value) {
  const float shifted = value + 12582912.f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

// C's float -> integer conversion as x86 performs it (cvttss2si: out of range or NaN gives
// INT32_MIN), without the undefined behaviour of a plain cast.
inline int32_t truncate_to_int(float value) {
  if (!(value > -2147483648.f && value < 2147483648.f)) return INT32_MIN;
  return static_cast<int32_t>(value);
}

// The narrowing (int8_t)/(uint8_t) casts of ggml's legacy quantizers.
inline int8_t truncate_to_i8(float value) { return static_cast<int8_t>(truncate_to_int(value)); }
inline uint8_t truncate_to_u8(float value) { return static_cast<uint8_t>(truncate_to_int(value)); }

// Branch-free forms of core/half.h's conversions (same values), so block loops vectorize.
inline float half_to_float(uint16_t h) { return half_to_float_fast(h); }
inline uint16_t float_to_half(float f) { return float_to_half_fast(f); }

void dequantize_q4_0(const BlockQ4_0* __restrict x, float* __restrict y, int64_t nb);
void dequantize_q4_1(const BlockQ4_1* __restrict x, float* __restrict y, int64_t nb);
void dequantize_q5_0(const BlockQ5_0* __restrict x, float* __restrict y, int64_t nb);
void dequantize_q5_1(const BlockQ5_1* __restrict x, float* __restrict y, int64_t nb);
void dequantize_q8_0(const BlockQ8_0* __restrict x, float* __restrict y, int64_t nb);
void dequantize_q2_k(const BlockQ2_K* __restrict x, float* __restrict y, int64_t nb);
void dequantize_q3_k(const BlockQ3_K* __restrict x, float* __restrict y, int64_t nb);
void dequantize_q4_k(const BlockQ4_K* __restrict x, float* __restrict y, int64_t nb);
void dequantize_q5_k(const BlockQ5_K* __restrict x, float* __restrict y, int64_t nb);
void dequantize_q6_k(const BlockQ6_K* __restrict x, float* __restrict y, int64_t nb);
void dequantize_iq4_nl(const BlockIQ4_NL* __restrict x, float* __restrict y, int64_t nb);
void dequantize_iq4_xs(const BlockIQ4_XS* __restrict x, float* __restrict y, int64_t nb);

void quantize_q4_0(const float* __restrict x, BlockQ4_0* __restrict y, int64_t nb);
void quantize_q4_1(const float* __restrict x, BlockQ4_1* __restrict y, int64_t nb);
void quantize_q5_0(const float* __restrict x, BlockQ5_0* __restrict y, int64_t nb);
void quantize_q5_1(const float* __restrict x, BlockQ5_1* __restrict y, int64_t nb);
void quantize_q8_0(const float* __restrict x, BlockQ8_0* __restrict y, int64_t nb);
void quantize_q2_k(const float* __restrict x, BlockQ2_K* __restrict y, int64_t nb);
void quantize_q3_k(const float* __restrict x, BlockQ3_K* __restrict y, int64_t nb);
void quantize_q4_k(const float* __restrict x, BlockQ4_K* __restrict y, int64_t nb);
void quantize_q5_k(const float* __restrict x, BlockQ5_K* __restrict y, int64_t nb);
void quantize_q6_k(const float* __restrict x, BlockQ6_K* __restrict y, int64_t nb);
void quantize_iq4_nl(const float* __restrict x, BlockIQ4_NL* __restrict y, int64_t nb);
void quantize_iq4_xs(const float* __restrict x, BlockIQ4_XS* __restrict y, int64_t nb);

}  // namespace strata::quant::detail
