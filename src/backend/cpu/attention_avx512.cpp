// AVX-512 attention tile kernels: Q·Kᵀ register-blocked with a 16-way horizontal reduction
// (few rows) or with rows on the lanes (transposed, many rows), P·V with broadcast weights,
// and a vector exp for the softmax.
#include "backend/cpu/attention_kernels.h"

#if defined(STRATA_CPU_X86)
#include <immintrin.h>

// GCC 12's AVX-512 headers start results from a self-initialized "undefined" vector and then
// warn about it at every inlined call (GCC bug 105593); nothing here reads such a value.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cmath>
#include <limits>

#define STRATA_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))
// Inner blocks must inline: their register arrays otherwise live on the stack.
#define STRATA_AVX512_INLINE \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"), always_inline)) inline

namespace strata::backend::cpu::detail {
namespace {

// exp(x) to about 1 ulp: 2^n * e^r with |r| <= ln2/2 (Cephes' polynomial); 0 below -104.
STRATA_AVX512_INLINE __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.f)), _mm512_set1_ps(88.7f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_scalef_ps(p, n);
}

STRATA_AVX512_INLINE __mmask16 tail_mask(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
}

// Lane i of the result is the sum of the lanes of a[i].
STRATA_AVX512_INLINE __m512 reduce16(const __m512* a) {
  __m512 x[8];
  for (int i = 0; i < 8; ++i) {
    x[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
  }
  __m512 y[4];
  for (int i = 0; i < 4; ++i) {
    const __m512d lo = _mm512_unpacklo_pd(_mm512_castps_pd(x[2 * i]), _mm512_castps_pd(x[2 * i + 1]));
    const __m512d hi = _mm512_unpackhi_pd(_mm512_castps_pd(x[2 * i]), _mm512_castps_pd(x[2 * i + 1]));
    y[i] = _mm512_add_ps(_mm512_castpd_ps(lo), _mm512_castpd_ps(hi));
  }
  const __m512 z0 = _mm512_add_ps(_mm512_shuffle_f32x4(y[0], y[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                  _mm512_shuffle_f32x4(y[0], y[1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512 z1 = _mm512_add_ps(_mm512_shuffle_f32x4(y[2], y[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                  _mm512_shuffle_f32x4(y[2], y[3], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(z0, z1, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(z0, z1, _MM_SHUFFLE(3, 1, 3, 1)));
}

// S block of RB rows x CB cells; RB * CB == 16 uses the vector reduction.
template <int RB, int CB>
STRATA_AVX512_INLINE void qk_block(const float* q, const float* k, int hd, float* s, int ld_s) {
  __m512 acc[RB * CB];
  for (int i = 0; i < RB * CB; ++i) acc[i] = _mm512_setzero_ps();
  for (int d = 0; d < hd; d += 16) {
    __m512 kv[CB];
    for (int c = 0; c < CB; ++c) kv[c] = _mm512_loadu_ps(k + c * hd + d);
    for (int r = 0; r < RB; ++r) {
      const __m512 qv = _mm512_loadu_ps(q + r * hd + d);
      for (int c = 0; c < CB; ++c) acc[r * CB + c] = _mm512_fmadd_ps(qv, kv[c], acc[r * CB + c]);
    }
  }
  if constexpr (RB * CB == 16) {
    const __m512 w = reduce16(acc);
    if constexpr (CB == 4) {
      _mm_storeu_ps(s, _mm512_extractf32x4_ps(w, 0));
      _mm_storeu_ps(s + ld_s, _mm512_extractf32x4_ps(w, 1));
      _mm_storeu_ps(s + 2 * static_cast<int64_t>(ld_s), _mm512_extractf32x4_ps(w, 2));
      _mm_storeu_ps(s + 3 * static_cast<int64_t>(ld_s), _mm512_extractf32x4_ps(w, 3));
    } else if constexpr (CB == 8) {
      _mm256_storeu_ps(s, _mm512_extractf32x8_ps(w, 0));
      _mm256_storeu_ps(s + ld_s, _mm512_extractf32x8_ps(w, 1));
    } else {
      _mm512_storeu_ps(s, w);
    }
  } else {
    for (int r = 0; r < RB; ++r) {
      for (int c = 0; c < CB; ++c) s[static_cast<int64_t>(r) * ld_s + c] = _mm512_reduce_add_ps(acc[r * CB + c]);
    }
  }
}

template <int RB, int CB>
STRATA_AVX512_INLINE void qk_rows(const float* q, const float* k, int cells, int hd, float* s, int ld_s) {
  int c = 0;
  for (; c + CB <= cells; c += CB) qk_block<RB, CB>(q, k + c * hd, hd, s + c, ld_s);
  for (; c < cells; ++c) qk_block<RB, 1>(q, k + c * hd, hd, s + c, ld_s);
}

STRATA_AVX512 void qk(const float* q, int rows, const float* k, int cells, int hd, float* s, int ld_s) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) qk_rows<4, 4>(q + r * hd, k, cells, hd, s + static_cast<int64_t>(r) * ld_s, ld_s);
  if (rows - r >= 2) {
    qk_rows<2, 8>(q + r * hd, k, cells, hd, s + static_cast<int64_t>(r) * ld_s, ld_s);
    r += 2;
  }
  if (rows - r == 1) qk_rows<1, 16>(q + r * hd, k, cells, hd, s + static_cast<int64_t>(r) * ld_s, ld_s);
}

// O block of RB rows x DB 16-float chunks, accumulated over every cell.
template <int RB, int DB>
STRATA_AVX512_INLINE void pv_block(const float* p, int64_t p_rs, int64_t p_cs, const float* v, int cells, int hd,
                                   float* o, int ld_o) {
  __m512 acc[RB][DB];
  for (int r = 0; r < RB; ++r) {
    for (int j = 0; j < DB; ++j) acc[r][j] = _mm512_loadu_ps(o + r * ld_o + 16 * j);
  }
  for (int c = 0; c < cells; ++c) {
    __m512 vv[DB];
    for (int j = 0; j < DB; ++j) vv[j] = _mm512_loadu_ps(v + c * hd + 16 * j);
    for (int r = 0; r < RB; ++r) {
      const __m512 w = _mm512_set1_ps(p[r * p_rs + c * p_cs]);
      for (int j = 0; j < DB; ++j) acc[r][j] = _mm512_fmadd_ps(w, vv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < RB; ++r) {
    for (int j = 0; j < DB; ++j) _mm512_storeu_ps(o + r * ld_o + 16 * j, acc[r][j]);
  }
}

template <int RB>
STRATA_AVX512_INLINE void pv_rows(const float* p, int64_t p_rs, int64_t p_cs, const float* v, int cells, int hd,
                                  float* o, int ld_o) {
  for (int d0 = 0; d0 < hd; d0 += 64) {
    switch ((hd - d0) >= 64 ? 4 : (hd - d0) / 16) {
      case 4: pv_block<RB, 4>(p, p_rs, p_cs, v + d0, cells, hd, o + d0, ld_o); break;
      case 3: pv_block<RB, 3>(p, p_rs, p_cs, v + d0, cells, hd, o + d0, ld_o); break;
      case 2: pv_block<RB, 2>(p, p_rs, p_cs, v + d0, cells, hd, o + d0, ld_o); break;
      default: pv_block<RB, 1>(p, p_rs, p_cs, v + d0, cells, hd, o + d0, ld_o); break;
    }
  }
}

STRATA_AVX512 void pv(const float* p, int64_t p_rs, int64_t p_cs, int rows, const float* v, int cells, int hd,
                      float* o, int ld_o) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) pv_rows<4>(p + r * p_rs, p_rs, p_cs, v, cells, hd, o + r * ld_o, ld_o);
  switch (rows - r) {
    case 3: pv_rows<3>(p + r * p_rs, p_rs, p_cs, v, cells, hd, o + r * ld_o, ld_o); break;
    case 2: pv_rows<2>(p + r * p_rs, p_rs, p_cs, v, cells, hd, o + r * ld_o, ld_o); break;
    case 1: pv_rows<1>(p + r * p_rs, p_rs, p_cs, v, cells, hd, o + r * ld_o, ld_o); break;
    default: break;
  }
}

// Transposed scores: CB cells x RV vectors of 16 rows, K values broadcast from the tile.
template <int CB, int RV>
STRATA_AVX512_INLINE void qkt_block(const float* qt, int rows_pad, const float* k, int hd, float* st) {
  __m512 acc[CB][RV];
  for (int c = 0; c < CB; ++c) {
    for (int j = 0; j < RV; ++j) acc[c][j] = _mm512_setzero_ps();
  }
  for (int d = 0; d < hd; ++d) {
    __m512 qv[RV];
    for (int j = 0; j < RV; ++j) qv[j] = _mm512_loadu_ps(qt + d * rows_pad + 16 * j);
    for (int c = 0; c < CB; ++c) {
      const __m512 kb = _mm512_set1_ps(k[c * hd + d]);
      for (int j = 0; j < RV; ++j) acc[c][j] = _mm512_fmadd_ps(kb, qv[j], acc[c][j]);
    }
  }
  for (int c = 0; c < CB; ++c) {
    for (int j = 0; j < RV; ++j) _mm512_storeu_ps(st + c * rows_pad + 16 * j, acc[c][j]);
  }
}

template <int RV>
STRATA_AVX512_INLINE void qkt_rows(const float* qt, int rows_pad, const float* k, int cells, int hd, float* st) {
  int c = 0;
  for (; c + 6 <= cells; c += 6) qkt_block<6, RV>(qt, rows_pad, k + c * hd, hd, st + c * rows_pad);
  switch (cells - c) {
    case 5: qkt_block<5, RV>(qt, rows_pad, k + c * hd, hd, st + c * rows_pad); break;
    case 4: qkt_block<4, RV>(qt, rows_pad, k + c * hd, hd, st + c * rows_pad); break;
    case 3: qkt_block<3, RV>(qt, rows_pad, k + c * hd, hd, st + c * rows_pad); break;
    case 2: qkt_block<2, RV>(qt, rows_pad, k + c * hd, hd, st + c * rows_pad); break;
    case 1: qkt_block<1, RV>(qt, rows_pad, k + c * hd, hd, st + c * rows_pad); break;
    default: break;
  }
}

STRATA_AVX512 void qk_t(const float* qt, int rows_pad, const float* k, int cells, int hd, float* st) {
  for (int r0 = 0; r0 < rows_pad; r0 += 64) {
    switch ((rows_pad - r0) >= 64 ? 4 : (rows_pad - r0) / 16) {
      case 4: qkt_rows<4>(qt + r0, rows_pad, k, cells, hd, st + r0); break;
      case 3: qkt_rows<3>(qt + r0, rows_pad, k, cells, hd, st + r0); break;
      case 2: qkt_rows<2>(qt + r0, rows_pad, k, cells, hd, st + r0); break;
      default: qkt_rows<1>(qt + r0, rows_pad, k, cells, hd, st + r0); break;
    }
  }
}

STRATA_AVX512 void softmax_tile_t(float* st, int rows_pad, int cells, const int* valid, float* m, float* l,
                                  float* corr) {
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int r = 0; r < rows_pad; r += 16) {
    const __m512i vvalid = _mm512_loadu_si512(valid + r);
    const __m512 vm = _mm512_loadu_ps(m + r);
    __m512 mt = neg_inf;
    for (int c = 0; c < cells; ++c) {
      const __mmask16 in = _mm512_cmpgt_epi32_mask(vvalid, _mm512_set1_epi32(c));
      mt = _mm512_mask_max_ps(mt, in, mt, _mm512_loadu_ps(st + static_cast<int64_t>(c) * rows_pad + r));
    }
    const __m512 m_new = _mm512_max_ps(vm, mt);
    // Rows without any cell so far restart (factor 0); an unchanged max gives exactly 1.
    const __mmask16 seen = _mm512_cmp_ps_mask(vm, neg_inf, _CMP_NEQ_OQ);
    const __m512 vcorr = _mm512_maskz_mov_ps(seen, exp16(_mm512_sub_ps(vm, m_new)));
    __m512 sum = _mm512_setzero_ps();
    for (int c = 0; c < cells; ++c) {
      const __mmask16 in = _mm512_cmpgt_epi32_mask(vvalid, _mm512_set1_epi32(c));
      float* x = st + static_cast<int64_t>(c) * rows_pad + r;
      const __m512 e = _mm512_maskz_mov_ps(in, exp16(_mm512_sub_ps(_mm512_loadu_ps(x), m_new)));
      _mm512_storeu_ps(x, e);
      sum = _mm512_add_ps(sum, e);
    }
    _mm512_storeu_ps(l + r, _mm512_fmadd_ps(_mm512_loadu_ps(l + r), vcorr, sum));
    _mm512_storeu_ps(m + r, m_new);
    _mm512_storeu_ps(corr + r, vcorr);
  }
}

STRATA_AVX512 void softmax_rows_t(float* st, int rows_pad, int cells, const int* limit, float* sum) {
  for (int r = 0; r < rows_pad; r += 16) {
    const __m512i vlim = _mm512_loadu_si512(limit + r);
    __m512 mx = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    for (int c = 0; c < cells; ++c) {
      const __mmask16 in = _mm512_cmpgt_epi32_mask(vlim, _mm512_set1_epi32(c));
      mx = _mm512_mask_max_ps(mx, in, mx, _mm512_loadu_ps(st + static_cast<int64_t>(c) * rows_pad + r));
    }
    __m512 total = _mm512_setzero_ps();
    for (int c = 0; c < cells; ++c) {
      const __mmask16 in = _mm512_cmpgt_epi32_mask(vlim, _mm512_set1_epi32(c));
      float* x = st + static_cast<int64_t>(c) * rows_pad + r;
      const __m512 e = _mm512_maskz_mov_ps(in, exp16(_mm512_sub_ps(_mm512_loadu_ps(x), mx)));
      _mm512_storeu_ps(x, e);
      total = _mm512_add_ps(total, e);
    }
    _mm512_storeu_ps(sum + r, total);
  }
}

STRATA_AVX512 float max_of(const float* x, int n) {
  __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int i = 0; i < n; i += 16) {
    m = _mm512_max_ps(m, _mm512_mask_loadu_ps(m, tail_mask(n - i), x + i));
  }
  return _mm512_reduce_max_ps(m);
}

STRATA_AVX512 float exp_sum(float* x, int n, float max) {
  const __m512 vmax = _mm512_set1_ps(max);
  __m512 sum = _mm512_setzero_ps();
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax)));
    _mm512_mask_storeu_ps(x + i, m, e);
    sum = _mm512_add_ps(sum, e);
  }
  return _mm512_reduce_add_ps(sum);
}

STRATA_AVX512 void softmax_tile(float* s, int ld_s, int rows, int cells, const int* valid, float* m, float* l,
                                float* corr) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int r = 0; r < rows; ++r) {
    float* row = s + static_cast<int64_t>(r) * ld_s;
    const int n = valid[r];
    corr[r] = 1.f;
    if (n <= 0) {
      for (int i = 0; i < cells; i += 16) _mm512_mask_storeu_ps(row + i, tail_mask(cells - i), _mm512_setzero_ps());
      continue;
    }
    const float mt = max_of(row, n);
    const float m_new = mt > m[r] ? mt : m[r];
    if (m_new != m[r]) corr[r] = m[r] == kNegInf ? 0.f : std::exp(m[r] - m_new);
    const float sum = exp_sum(row, n, m_new);
    for (int i = n; i < cells; ++i) row[i] = 0.f;
    l[r] = l[r] * corr[r] + sum;
    m[r] = m_new;
  }
}

}  // namespace

const AttnKernels* attn_kernels_avx512() {
  static const AttnKernels kernels{16, qk, qk_t, pv, softmax_tile, softmax_tile_t, softmax_rows_t, exp_sum, max_of};
  return &kernels;
}

}  // namespace strata::backend::cpu::detail

#else

namespace strata::backend::cpu::detail {
const AttnKernels* attn_kernels_avx512() { return nullptr; }
}  // namespace strata::backend::cpu::detail

#endif
