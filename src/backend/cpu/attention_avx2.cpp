// AVX2 attention tile kernels (8 floats per vector, 16 registers): the same structure as the
// AVX-512 path with smaller register blocks.
#include "backend/cpu/attention_kernels.h"

#if defined(STRATA_CPU_X86)
#include <immintrin.h>

// GCC 12's AVX-512 headers start results from a self-initialized "undefined" vector and then
// warn about it at every inlined call (GCC bug 105593); nothing here reads such a value.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cmath>
#include <limits>

#define STRATA_AVX2 __attribute__((target("avx2,fma,f16c")))
// Inner blocks must inline: their register arrays otherwise live on the stack.
#define STRATA_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) inline

namespace strata::backend::cpu::detail {
namespace {

// exp(x) to about 1 ulp (Cephes' polynomial); 0 below -87.3 where 2^n leaves the normals.
STRATA_AVX2_INLINE __m256 exp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.33f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.37f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

STRATA_AVX2_INLINE __m256i tail_mask(int n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

STRATA_AVX2_INLINE float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

STRATA_AVX2_INLINE float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lane i of the result is the sum of the lanes of a[i].
STRATA_AVX2_INLINE __m256 reduce8(const __m256* a) {
  const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
  const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20), _mm256_permute2f128_ps(h0, h1, 0x31));
}

template <int RB, int CB>
STRATA_AVX2_INLINE void qk_block(const float* q, const float* k, int hd, float* s, int ld_s) {
  __m256 acc[RB * CB];
  for (int i = 0; i < RB * CB; ++i) acc[i] = _mm256_setzero_ps();
  for (int d = 0; d < hd; d += 8) {
    __m256 kv[CB];
    for (int c = 0; c < CB; ++c) kv[c] = _mm256_loadu_ps(k + c * hd + d);
    for (int r = 0; r < RB; ++r) {
      const __m256 qv = _mm256_loadu_ps(q + r * hd + d);
      for (int c = 0; c < CB; ++c) acc[r * CB + c] = _mm256_fmadd_ps(qv, kv[c], acc[r * CB + c]);
    }
  }
  if constexpr (RB * CB == 8) {
    const __m256 w = reduce8(acc);
    if constexpr (CB == 4) {
      _mm_storeu_ps(s, _mm256_castps256_ps128(w));
      _mm_storeu_ps(s + ld_s, _mm256_extractf128_ps(w, 1));
    } else {
      _mm256_storeu_ps(s, w);
    }
  } else {
    for (int r = 0; r < RB; ++r) {
      for (int c = 0; c < CB; ++c) s[static_cast<int64_t>(r) * ld_s + c] = hsum(acc[r * CB + c]);
    }
  }
}

template <int RB, int CB>
STRATA_AVX2_INLINE void qk_rows(const float* q, const float* k, int cells, int hd, float* s, int ld_s) {
  int c = 0;
  for (; c + CB <= cells; c += CB) qk_block<RB, CB>(q, k + c * hd, hd, s + c, ld_s);
  for (; c < cells; ++c) qk_block<RB, 1>(q, k + c * hd, hd, s + c, ld_s);
}

STRATA_AVX2 void qk(const float* q, int rows, const float* k, int cells, int hd, float* s, int ld_s) {
  int r = 0;
  for (; r + 2 <= rows; r += 2) qk_rows<2, 4>(q + r * hd, k, cells, hd, s + static_cast<int64_t>(r) * ld_s, ld_s);
  if (r < rows) qk_rows<1, 8>(q + r * hd, k, cells, hd, s + static_cast<int64_t>(r) * ld_s, ld_s);
}

template <int RB, int DB>
STRATA_AVX2_INLINE void pv_block(const float* p, int64_t p_rs, int64_t p_cs, const float* v, int cells, int hd,
                                 float* o, int ld_o) {
  __m256 acc[RB][DB];
  for (int r = 0; r < RB; ++r) {
    for (int j = 0; j < DB; ++j) acc[r][j] = _mm256_loadu_ps(o + r * ld_o + 8 * j);
  }
  for (int c = 0; c < cells; ++c) {
    __m256 vv[DB];
    for (int j = 0; j < DB; ++j) vv[j] = _mm256_loadu_ps(v + c * hd + 8 * j);
    for (int r = 0; r < RB; ++r) {
      const __m256 w = _mm256_broadcast_ss(p + r * p_rs + c * p_cs);
      for (int j = 0; j < DB; ++j) acc[r][j] = _mm256_fmadd_ps(w, vv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < RB; ++r) {
    for (int j = 0; j < DB; ++j) _mm256_storeu_ps(o + r * ld_o + 8 * j, acc[r][j]);
  }
}

template <int RB>
STRATA_AVX2_INLINE void pv_rows(const float* p, int64_t p_rs, int64_t p_cs, const float* v, int cells, int hd,
                                float* o, int ld_o) {
  int d0 = 0;
  for (; d0 + 24 <= hd; d0 += 24) pv_block<RB, 3>(p, p_rs, p_cs, v + d0, cells, hd, o + d0, ld_o);
  for (; d0 < hd; d0 += 8) pv_block<RB, 1>(p, p_rs, p_cs, v + d0, cells, hd, o + d0, ld_o);
}

STRATA_AVX2 void pv(const float* p, int64_t p_rs, int64_t p_cs, int rows, const float* v, int cells, int hd,
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

// Transposed scores: CB cells x RV vectors of 8 rows, K values broadcast from the tile.
template <int CB, int RV>
STRATA_AVX2_INLINE void qkt_block(const float* qt, int rows_pad, const float* k, int hd, float* st) {
  __m256 acc[CB][RV];
  for (int c = 0; c < CB; ++c) {
    for (int j = 0; j < RV; ++j) acc[c][j] = _mm256_setzero_ps();
  }
  for (int d = 0; d < hd; ++d) {
    __m256 qv[RV];
    for (int j = 0; j < RV; ++j) qv[j] = _mm256_loadu_ps(qt + d * rows_pad + 8 * j);
    for (int c = 0; c < CB; ++c) {
      const __m256 kb = _mm256_broadcast_ss(k + c * hd + d);
      for (int j = 0; j < RV; ++j) acc[c][j] = _mm256_fmadd_ps(kb, qv[j], acc[c][j]);
    }
  }
  for (int c = 0; c < CB; ++c) {
    for (int j = 0; j < RV; ++j) _mm256_storeu_ps(st + c * rows_pad + 8 * j, acc[c][j]);
  }
}

template <int RV>
STRATA_AVX2_INLINE void qkt_rows(const float* qt, int rows_pad, const float* k, int cells, int hd, float* st) {
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

STRATA_AVX2 void qk_t(const float* qt, int rows_pad, const float* k, int cells, int hd, float* st) {
  int r0 = 0;
  for (; r0 + 16 <= rows_pad; r0 += 16) qkt_rows<2>(qt + r0, rows_pad, k, cells, hd, st + r0);
  if (r0 < rows_pad) qkt_rows<1>(qt + r0, rows_pad, k, cells, hd, st + r0);
}

STRATA_AVX2 void softmax_tile_t(float* st, int rows_pad, int cells, const int* valid, float* m, float* l,
                                float* corr) {
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int r = 0; r < rows_pad; r += 8) {
    const __m256i vvalid = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(valid + r));
    const __m256 vm = _mm256_loadu_ps(m + r);
    __m256 mt = neg_inf;
    for (int c = 0; c < cells; ++c) {
      const __m256 in = _mm256_castsi256_ps(_mm256_cmpgt_epi32(vvalid, _mm256_set1_epi32(c)));
      mt = _mm256_blendv_ps(mt, _mm256_max_ps(mt, _mm256_loadu_ps(st + static_cast<int64_t>(c) * rows_pad + r)), in);
    }
    const __m256 m_new = _mm256_max_ps(vm, mt);
    // Rows without any cell so far restart (factor 0); an unchanged max gives exactly 1.
    const __m256 seen = _mm256_cmp_ps(vm, neg_inf, _CMP_NEQ_OQ);
    const __m256 vcorr = _mm256_and_ps(seen, exp8(_mm256_sub_ps(vm, m_new)));
    __m256 sum = _mm256_setzero_ps();
    for (int c = 0; c < cells; ++c) {
      const __m256 in = _mm256_castsi256_ps(_mm256_cmpgt_epi32(vvalid, _mm256_set1_epi32(c)));
      float* x = st + static_cast<int64_t>(c) * rows_pad + r;
      const __m256 e = _mm256_and_ps(in, exp8(_mm256_sub_ps(_mm256_loadu_ps(x), m_new)));
      _mm256_storeu_ps(x, e);
      sum = _mm256_add_ps(sum, e);
    }
    _mm256_storeu_ps(l + r, _mm256_fmadd_ps(_mm256_loadu_ps(l + r), vcorr, sum));
    _mm256_storeu_ps(m + r, m_new);
    _mm256_storeu_ps(corr + r, vcorr);
  }
}

STRATA_AVX2 void softmax_rows_t(float* st, int rows_pad, int cells, const int* limit, float* sum) {
  for (int r = 0; r < rows_pad; r += 8) {
    const __m256i vlim = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(limit + r));
    __m256 mx = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    for (int c = 0; c < cells; ++c) {
      const __m256 in = _mm256_castsi256_ps(_mm256_cmpgt_epi32(vlim, _mm256_set1_epi32(c)));
      mx = _mm256_blendv_ps(mx, _mm256_max_ps(mx, _mm256_loadu_ps(st + static_cast<int64_t>(c) * rows_pad + r)), in);
    }
    __m256 total = _mm256_setzero_ps();
    for (int c = 0; c < cells; ++c) {
      const __m256 in = _mm256_castsi256_ps(_mm256_cmpgt_epi32(vlim, _mm256_set1_epi32(c)));
      float* x = st + static_cast<int64_t>(c) * rows_pad + r;
      const __m256 e = _mm256_and_ps(in, exp8(_mm256_sub_ps(_mm256_loadu_ps(x), mx)));
      _mm256_storeu_ps(x, e);
      total = _mm256_add_ps(total, e);
    }
    _mm256_storeu_ps(sum + r, total);
  }
}

STRATA_AVX2 float max_of(const float* x, int n) {
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 m = neg_inf;
  int i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  if (i < n) {
    const __m256i mask = tail_mask(n - i);
    m = _mm256_max_ps(m, _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(x + i, mask), _mm256_castsi256_ps(mask)));
  }
  return hmax(m);
}

STRATA_AVX2 float exp_sum(float* x, int n, float max) {
  const __m256 vmax = _mm256_set1_ps(max);
  __m256 sum = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (i < n) {
    const __m256i mask = tail_mask(n - i);
    const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), vmax)),
                                   _mm256_castsi256_ps(mask));
    _mm256_maskstore_ps(x + i, mask, e);
    sum = _mm256_add_ps(sum, e);
  }
  return hsum(sum);
}

STRATA_AVX2 void softmax_tile(float* s, int ld_s, int rows, int cells, const int* valid, float* m, float* l,
                              float* corr) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int r = 0; r < rows; ++r) {
    float* row = s + static_cast<int64_t>(r) * ld_s;
    const int n = valid[r];
    corr[r] = 1.f;
    if (n <= 0) {
      for (int i = 0; i < cells; ++i) row[i] = 0.f;
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

const AttnKernels* attn_kernels_avx2() {
  static const AttnKernels kernels{16, qk, qk_t, pv, softmax_tile, softmax_tile_t, softmax_rows_t, exp_sum, max_of};
  return &kernels;
}

}  // namespace strata::backend::cpu::detail

#else

namespace strata::backend::cpu::detail {
const AttnKernels* attn_kernels_avx2() { return nullptr; }
}  // namespace strata::backend::cpu::detail

#endif
