// Branch-free fp16 conversions for whole rows (internal to quant/): the same values as
// core/half.h, written with selects only so that row loops vectorize.
#pragma once

#include <cstdint>
#include <cstring>

namespace strata::quant::detail {

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// All-ones when cond holds: selects written as masks, which GCC vectorizes where it
// leaves ternaries as branches.
inline uint32_t mask_if(bool cond) { return 0u - static_cast<uint32_t>(cond); }

// Exact for every input, NaN payloads included (as fp16_to_fp32).
inline float half_to_float_fast(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t em = h & 0x7FFFu;
  const uint32_t exp = em >> 10;
  // Normal numbers: rebias the exponent by 112; inf/NaN: by 224 so it becomes 0xFF.
  const uint32_t rebased = (em << 13) + 0x38000000u + (mask_if(exp == 0x1F) & 0x38000000u);
  // Subnormals: the 10-bit integer times 2^-24 (both exact in float).
  const uint32_t sub = float_to_bits(static_cast<float>(static_cast<int32_t>(em)) * 0x1p-24f);
  const uint32_t is_sub = mask_if(exp == 0);
  return bits_to_float(sign | (is_sub & sub) | (~is_sub & rebased));
}

// Round to nearest even, overflow to inf, NaN to a quiet NaN (0x7E00 with the sign): the
// float-arithmetic formulation that ggml's software path uses.
inline uint16_t float_to_half_fast(float f) {
  const uint32_t w = float_to_bits(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  // Scaling up then down makes the float unit round the mantissa at the fp16 position.
  float base = (bits_to_float(w & 0x7FFFFFFFu) * 0x1p+112f) * 0x1p-110f;
  uint32_t bias = shl1_w & 0xFF000000u;
  const uint32_t small = mask_if(bias < 0x71000000u);
  bias = (small & 0x71000000u) | (~small & bias);
  base = bits_to_float((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = float_to_bits(base);
  const uint32_t nonsign = ((bits >> 13) & 0x00007C00u) + (bits & 0x00000FFFu);
  const uint32_t nan = mask_if(shl1_w > 0xFF000000u);
  return static_cast<uint16_t>((sign >> 16) | (nan & 0x7E00u) | (~nan & nonsign));
}

}  // namespace strata::quant::detail
