// Dequantization of the K-quants (q2_K..q6_K, 256-element super-blocks), each multiply and
// subtract a separate float operation in ggml's order so results match it bit for bit.
#include "quant/format_kernels.h"

namespace strata::quant::detail {

// Group g = 8 * half + 2 * shift_index + sub covers elements 128 half + 32 shift_index +
// 16 sub + l, whose quant sits in bits 2 shift_index of qs[32 half + 16 sub + l].
void dequantize_q2_k(const BlockQ2_K* __restrict x, float* __restrict y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const float d = half_to_float(x[i].d);
    const float dmin = half_to_float(x[i].dmin);
    for (int g = 0; g < 16; ++g) {
      const uint8_t sc = x[i].scales[g];
      const float dl = d * static_cast<float>(sc & 0xF);
      const float ml = dmin * static_cast<float>(sc >> 4);
      const uint8_t* q = x[i].qs + 32 * (g / 8) + 16 * (g % 2);
      const int shift = 2 * ((g / 2) % 4);
      float* out = y + 16 * g;
      for (int l = 0; l < 16; ++l) out[l] = dl * static_cast<float>((q[l] >> shift) & 3) - ml;
    }
  }
}

void dequantize_q3_k(const BlockQ3_K* __restrict x, float* __restrict y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQKK) {
    const float d = half_to_float(x[i].d);
    int8_t scales[16];
    q3k_unpack_scales(x[i].scales, scales);
    for (int g = 0; g < 16; ++g) {
      const float dl = d * static_cast<float>(scales[g] - 32);
      const uint8_t* q = x[i].qs + 32 * (g / 8) + 16 * (g % 2);
      const uint8_t* hm = x[i].hmask + 16 * (g % 2);
      const int shift = 2 * ((g / 2) % 4);
      const int hbit = g / 2;  // 4 * half + shift_index
      float* out = y + 16 * g;
      for (int l = 0; l < 16; ++l) {
        const int v = ((q[l] >> shift) & 3) - 4 * (1 - ((hm[l] >> hbit) & 1));
        out[l] = dl * static_cast<float>(v);
      }
    }
  }
}

void dequantize_q4_k(const BlockQ4_K* __restrict x, float* __restrict y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = half_to_float(x[i].d);
    const float dmin = half_to_float(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int c = 0; c < 4; ++c, q += 32) {
      uint8_t sc, mn;
      k4_scale_min(2 * c, x[i].scales, sc, mn);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(mn);
      k4_scale_min(2 * c + 1, x[i].scales, sc, mn);
      const float d2 = d * static_cast<float>(sc);
      const float m2 = dmin * static_cast<float>(mn);
      for (int l = 0; l < 32; ++l) y[l] = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) y[32 + l] = d2 * static_cast<float>(q[l] >> 4) - m2;
      y += 64;
    }
  }
}

void dequantize_q5_k(const BlockQ5_K* __restrict x, float* __restrict y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = half_to_float(x[i].d);
    const float dmin = half_to_float(x[i].dmin);
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    for (int c = 0; c < 4; ++c, ql += 32) {
      uint8_t sc, mn;
      k4_scale_min(2 * c, x[i].scales, sc, mn);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(mn);
      k4_scale_min(2 * c + 1, x[i].scales, sc, mn);
      const float d2 = d * static_cast<float>(sc);
      const float m2 = dmin * static_cast<float>(mn);
      const int lo_bit = 2 * c;
      const int hi_bit = 2 * c + 1;
      for (int l = 0; l < 32; ++l) {
        const int q = (ql[l] & 0xF) | (((qh[l] >> lo_bit) & 1) << 4);
        y[l] = d1 * static_cast<float>(q) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        const int q = (ql[l] >> 4) | (((qh[l] >> hi_bit) & 1) << 4);
        y[32 + l] = d2 * static_cast<float>(q) - m2;
      }
      y += 64;
    }
  }
}

void dequantize_q6_k(const BlockQ6_K* __restrict x, float* __restrict y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = half_to_float(x[i].d);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = x[i].ql + 64 * half;
      const uint8_t* qh = x[i].qh + 32 * half;
      const int8_t* sc = x[i].scales + 8 * half;
      // Two 16-element halves so each inner loop has loop-invariant scales.
      for (int is = 0; is < 2; ++is) {
        const float d1 = d * static_cast<float>(sc[is]);
        const float d2 = d * static_cast<float>(sc[is + 2]);
        const float d3 = d * static_cast<float>(sc[is + 4]);
        const float d4 = d * static_cast<float>(sc[is + 6]);
        for (int l = 16 * is; l < 16 * is + 16; ++l) {
          const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
          const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
          const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
          const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
          y[l] = d1 * static_cast<float>(q1);
          y[l + 32] = d2 * static_cast<float>(q2);
          y[l + 64] = d3 * static_cast<float>(q3);
          y[l + 96] = d4 * static_cast<float>(q4);
        }
      }
      y += 128;
    }
  }
}

}  // namespace strata::quant::detail
