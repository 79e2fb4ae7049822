// q4_0, q4_1, q5_0, q5_1, q8_0: 32-element blocks with one fp16 scale (and offset).
// The arithmetic mirrors ggml's reference code operation for operation so that dequantized
// floats and quantized bytes are bit-identical to llama.cpp's.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "quant/format_kernels.h"

namespace strata::quant::detail {
namespace {

// Value with the largest magnitude (the first one on ties), sign kept.
inline float signed_absmax(const float* x, int n) {
  float amax = 0.f;
  float max = 0.f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

inline void min_max(const float* x, int n, float& min, float& max) {
  min = FLT_MAX;
  max = -FLT_MAX;
  for (int j = 0; j < n; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
}

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

void dequantize_q4_0(const BlockQ4_0* __restrict x, float* __restrict y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = half_to_float(x[i].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((x[i].qs[j] & 0x0F) - 8) * d;
      y[j + 16] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const BlockQ4_1* __restrict x, float* __restrict y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = half_to_float(x[i].d);
    const float m = half_to_float(x[i].m);
    for (int j = 0; j < 16; ++j) {
      const int lo = x[i].qs[j] & 0x0F;
      const int hi = x[i].qs[j] >> 4;
      y[j] = static_cast<float>(lo) * d + m;
      y[j + 16] = static_cast<float>(hi) * d + m;
    }
  }
}

// Fifth bits as 0 or 16 per element, so the element loops below are plain byte arithmetic.
inline void q5_high_bits(const uint8_t* qh_bytes, uint8_t* high) {
  const uint32_t qh = load_u32(qh_bytes);
  for (int j = 0; j < 32; ++j) high[j] = static_cast<uint8_t>(((qh >> j) & 1) << 4);
}

void dequantize_q5_0(const BlockQ5_0* __restrict x, float* __restrict y, int64_t nb) {
  uint8_t high[32];
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = half_to_float(x[i].d);
    q5_high_bits(x[i].qh, high);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(((x[i].qs[j] & 0x0F) | high[j]) - 16) * d;
      y[j + 16] = static_cast<float>(((x[i].qs[j] >> 4) | high[j + 16]) - 16) * d;
    }
  }
}

void dequantize_q5_1(const BlockQ5_1* __restrict x, float* __restrict y, int64_t nb) {
  uint8_t high[32];
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = half_to_float(x[i].d);
    const float m = half_to_float(x[i].m);
    q5_high_bits(x[i].qh, high);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((x[i].qs[j] & 0x0F) | high[j]) * d + m;
      y[j + 16] = static_cast<float>((x[i].qs[j] >> 4) | high[j + 16]) * d + m;
    }
  }
}

void dequantize_q8_0(const BlockQ8_0* __restrict x, float* __restrict y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = half_to_float(x[i].d);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

void quantize_q4_0(const float* __restrict x, BlockQ4_0* __restrict y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    // The extreme value maps to -8 exactly, which uses the full signed range.
    const float d = signed_absmax(x, 32) / -8.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    y[i].d = float_to_half(d);
    for (int j = 0; j < 16; ++j) {
      const auto lo = static_cast<uint8_t>(std::min<int>(15, truncate_to_i8(x[j] * id + 8.5f)));
      const auto hi = static_cast<uint8_t>(std::min<int>(15, truncate_to_i8(x[j + 16] * id + 8.5f)));
      y[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void quantize_q4_1(const float* __restrict x, BlockQ4_1* __restrict y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float min, max;
    min_max(x, 32, min, max);
    const float d = (max - min) / 15.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    y[i].d = float_to_half(d);
    y[i].m = float_to_half(min);
    for (int j = 0; j < 16; ++j) {
      const auto lo = static_cast<uint8_t>(std::min<int>(15, truncate_to_i8((x[j] - min) * id + 0.5f)));
      const auto hi = static_cast<uint8_t>(std::min<int>(15, truncate_to_i8((x[j + 16] - min) * id + 0.5f)));
      y[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void quantize_q5_0(const float* __restrict x, BlockQ5_0* __restrict y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    const float d = signed_absmax(x, 32) / -16.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    y[i].d = float_to_half(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const auto lo = static_cast<uint8_t>(std::min<int>(31, truncate_to_i8(x[j] * id + 16.5f)));
      const auto hi = static_cast<uint8_t>(std::min<int>(31, truncate_to_i8(x[j + 16] * id + 16.5f)));
      y[i].qs[j] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
      qh |= ((lo & 0x10u) >> 4) << j;
      qh |= ((hi & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(y[i].qh, &qh, sizeof qh);
  }
}

void quantize_q5_1(const float* __restrict x, BlockQ5_1* __restrict y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float min, max;
    min_max(x, 32, min, max);
    const float d = (max - min) / 31.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    y[i].d = float_to_half(d);
    y[i].m = float_to_half(min);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const uint8_t lo = truncate_to_u8((x[j] - min) * id + 0.5f);
      const uint8_t hi = truncate_to_u8((x[j + 16] - min) * id + 0.5f);
      y[i].qs[j] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
      qh |= ((lo & 0x10u) >> 4) << j;
      qh |= ((hi & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(y[i].qh, &qh, sizeof qh);
  }
}

void quantize_q8_0(const float* __restrict x, BlockQ8_0* __restrict y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float amax = 0.f;
    for (int j = 0; j < 32; ++j) {
      const float a = std::fabs(x[j]);
      amax = amax > a ? amax : a;
    }
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    y[i].d = float_to_half(d);
    for (int j = 0; j < 32; ++j) y[i].qs[j] = truncate_to_i8(std::round(x[j] * id));
  }
}

}  // namespace strata::quant::detail
