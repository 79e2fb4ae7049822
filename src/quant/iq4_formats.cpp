// iq4_nl (32-element blocks) and iq4_xs (256-element super-blocks with 6-bit sub-scales):
// 4-bit indices into the non-linear kIQ4Values table. The quantizer is ggml's chunk
// quantizer (what llama-quantize runs): 15 scale candidates per 32 values.
#include <cmath>
#include <cstring>

#include "quant/format_kernels.h"

namespace strata::quant::detail {
namespace {

constexpr float kGroupMaxEps = 1e-15f;
constexpr int kScaleTries = 7;  // candidates -7..7 around the max-based scale

// Index of the table level nearest to x; x picks level i once it reaches the midpoint of
// levels i-1 and i. Comparing 2x with the (exact) sum of levels avoids rounding in the test.
inline int nearest_level(float x) {
  const float x2 = x + x;
  int idx = 0;
  for (int step = 8; step > 0; step >>= 1) {
    const int j = idx + step;
    idx = (x2 >= static_cast<float>(kIQ4Values[j - 1] + kIQ4Values[j])) ? j : idx;
  }
  return idx;
}

// Best scale for one 32-value block (x^2-weighted least squares over the candidates); L
// receives the indices found for the initial candidate. 0 for an all-zero block.
float best_block_scale(const float* xb, uint8_t* L) {
  float weight[32];
  for (int j = 0; j < 32; ++j) weight[j] = xb[j] * xb[j];
  float amax = 0.f;
  float max = 0.f;
  for (int j = 0; j < 32; ++j) {
    const float ax = std::fabs(xb[j]);
    if (ax > amax) {
      amax = ax;
      max = xb[j];
    }
  }
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, 32);
    return 0.f;
  }
  const float v0 = static_cast<float>(kIQ4Values[0]);
  float d = -max / v0;
  float id = 1.f / d;
  float sumqx = 0.f, sumq2 = 0.f;
  for (int j = 0; j < 32; ++j) {
    const int l = nearest_level(id * xb[j]);
    L[j] = static_cast<uint8_t>(l);
    const float q = static_cast<float>(kIQ4Values[l]);
    sumqx += weight[j] * q * xb[j];
    sumq2 += weight[j] * q * q;
  }
  d = sumq2 > 0.f ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  for (int itry = -kScaleTries; itry <= kScaleTries; ++itry) {
    id = static_cast<float>(itry + kIQ4Values[0]) / max;
    sumqx = sumq2 = 0.f;
    for (int j = 0; j < 32; ++j) {
      const int l = nearest_level(id * xb[j]);
      const float q = static_cast<float>(kIQ4Values[l]);
      sumqx += weight[j] * q * xb[j];
      sumq2 += weight[j] * q * q;
    }
    if (sumq2 > 0.f && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

inline void pack_nibbles(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(L[j] | (L[16 + j] << 4));
}

}  // namespace

// dl * level for the 16 levels: the same products the element loop would compute, so a
// lookup replaces a per-element int8 load, conversion and multiply.
inline void scaled_levels(float dl, float table[16]) {
  for (int k = 0; k < 16; ++k) table[k] = dl * static_cast<float>(kIQ4Values[k]);
}

void dequantize_iq4_nl(const BlockIQ4_NL* __restrict x, float* __restrict y, int64_t nb) {
  float table[16];
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    scaled_levels(half_to_float(x[i].d), table);
    for (int j = 0; j < 16; ++j) {
      y[j] = table[x[i].qs[j] & 0xF];
      y[j + 16] = table[x[i].qs[j] >> 4];
    }
  }
}

void dequantize_iq4_xs(const BlockIQ4_XS* __restrict x, float* __restrict y, int64_t nb) {
  float table[16];
  for (int64_t i = 0; i < nb; ++i) {
    const float d = half_to_float(x[i].d);
    const uint8_t* qs = x[i].qs;
    for (int ib = 0; ib < 8; ++ib, qs += 16, y += 32) {
      const int ls = ((x[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((x[i].scales_h >> (2 * ib)) & 3) << 4);
      scaled_levels(d * static_cast<float>(ls - 32), table);
      for (int j = 0; j < 16; ++j) {
        y[j] = table[qs[j] & 0xF];
        y[j + 16] = table[qs[j] >> 4];
      }
    }
  }
}

void quantize_iq4_nl(const float* __restrict x, BlockIQ4_NL* __restrict y, int64_t nb) {
  uint8_t L[32];
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    const float scale = best_block_scale(x, L);
    y[i].d = float_to_half(scale);
    // Indices for the chosen (unrounded) scale; an all-zero block maps to the level nearest 0.
    const float id = scale != 0.f ? 1.f / scale : 0.f;
    for (int j = 0; j < 32; ++j) L[j] = static_cast<uint8_t>(nearest_level(id * x[j]));
    pack_nibbles(L, y[i].qs);
  }
}

void quantize_iq4_xs(const float* __restrict x, BlockIQ4_XS* __restrict y, int64_t nb) {
  uint8_t L[32];
  float scales[8];
  for (int64_t i = 0; i < nb; ++i, x += kQKK) {
    float max_scale = 0.f, amax_scale = 0.f;
    for (int ib = 0; ib < 8; ++ib) {
      scales[ib] = best_block_scale(x + 32 * ib, L);
      const float a = std::fabs(scales[ib]);
      if (a > amax_scale) {
        amax_scale = a;
        max_scale = scales[ib];
      }
    }
    // Sub-scales are 6-bit signed multiples of d; the largest maps to -32.
    const float d = -max_scale / 32.f;
    y[i].d = float_to_half(d);
    const float id = d != 0.f ? 1.f / d : 0.f;
    uint16_t scales_h = 0;
    for (int ib = 0; ib < 8; ++ib) {
      int l = nearest_int(id * scales[ib]);
      l = l < -32 ? -32 : (l > 31 ? 31 : l);
      const float dl = d * static_cast<float>(l);
      const float idl = dl != 0.f ? 1.f / dl : 0.f;
      const float* xb = x + 32 * ib;
      for (int j = 0; j < 32; ++j) L[j] = static_cast<uint8_t>(nearest_level(idl * xb[j]));
      pack_nibbles(L, y[i].qs + 16 * ib);
      l += 32;
      const auto low = static_cast<uint8_t>(l & 0xF);
      if (ib % 2 == 0) {
        y[i].scales_l[ib / 2] = low;
      } else {
        y[i].scales_l[ib / 2] = static_cast<uint8_t>(y[i].scales_l[ib / 2] | (low << 4));
      }
      scales_h = static_cast<uint16_t>(scales_h | ((l >> 4) << (2 * ib)));
    }
    y[i].scales_h = scales_h;
  }
}

}  // namespace strata::quant::detail
