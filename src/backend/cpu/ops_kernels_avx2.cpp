// AVX2 + FMA row kernels of the non-matmul ops. Compiled with function-level target
// attributes and only called after cpu_isa's run-time check, so the library still runs on
// any x86-64.
#include "backend/cpu/ops_kernels.h"

#include <cstring>

#include "backend/cpu/ops_math.h"

#if defined(STRATA_CPU_X86)
#include <immintrin.h>

#define STRATA_AVX2 __attribute__((target("avx2,fma")))
#define STRATA_AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) inline

namespace strata::backend::cpu {
namespace {

// The vector form of ops_math.h's exp_reduced; x must already be clamped.
STRATA_AVX2_INLINE __m256 exp_reduced8(__m256 x) {
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
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

STRATA_AVX2_INLINE __m256 silu8(__m256 g) {
  // max/min return their second operand for NaN, so a NaN g clamps to a number here and
  // comes back through the division by g's own NaN.
  __m256 z = _mm256_sub_ps(_mm256_setzero_ps(), g);
  z = _mm256_max_ps(z, _mm256_set1_ps(kExpMinArg));
  z = _mm256_min_ps(z, _mm256_set1_ps(kExpMaxArg));
  const __m256 s = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), exp_reduced8(z)));
  const __m256 tiny = _mm256_cmp_ps(g, _mm256_set1_ps(-kExpMaxArg), _CMP_LT_OQ);
  return _mm256_andnot_ps(tiny, s);
}

STRATA_AVX2 double sum_squares(const float* x, int64_t n) {
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  __m256d acc2 = _mm256_setzero_pd(), acc3 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i);
    const __m256 b = _mm256_loadu_ps(x + i + 8);
    const __m256 aa = _mm256_mul_ps(a, a);
    const __m256 bb = _mm256_mul_ps(b, b);
    acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(aa)));
    acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(aa, 1)));
    acc2 = _mm256_add_pd(acc2, _mm256_cvtps_pd(_mm256_castps256_ps128(bb)));
    acc3 = _mm256_add_pd(acc3, _mm256_cvtps_pd(_mm256_extractf128_ps(bb, 1)));
  }
  const __m256d acc = _mm256_add_pd(_mm256_add_pd(acc0, acc1), _mm256_add_pd(acc2, acc3));
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, acc);
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  return sum;
}

STRATA_AVX2 void scale_mul(const float* x, float s, const float* w, float* y, int64_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  int64_t i = 0;
  if (w == nullptr) {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs));
    for (; i < n; ++i) y[i] = x[i] * s;
    return;
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
    _mm256_storeu_ps(y + i, _mm256_mul_ps(scaled, _mm256_loadu_ps(w + i)));
  }
  for (; i < n; ++i) y[i] = (x[i] * s) * w[i];
}

STRATA_AVX2 void swiglu(const float* g, const float* u, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu8(_mm256_loadu_ps(g + i)), _mm256_loadu_ps(u + i)));
  }
  if (i < n) {
    // The tail goes through the same vector code so that every element gets the same math.
    alignas(32) float gt[8] = {}, ut[8] = {}, ot[8];
    const size_t rest = static_cast<size_t>(n - i) * sizeof(float);
    std::memcpy(gt, g + i, rest);
    std::memcpy(ut, u + i, rest);
    _mm256_store_ps(ot, _mm256_mul_ps(silu8(_mm256_load_ps(gt)), _mm256_load_ps(ut)));
    std::memcpy(out + i, ot, rest);
  }
}

STRATA_AVX2 void add(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  }
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

// Products and sum rounded separately (no FMA), as the scalar kernel and llama.cpp do.
STRATA_AVX2 void rope_normal(float* x, const float* c, const float* s, int64_t rope_dim) {
  int64_t j = 0;
  for (; j + 8 <= rope_dim; j += 8) {
    const __m256 v = _mm256_loadu_ps(x + j);
    const __m256 swapped = _mm256_permute_ps(v, 0xB1);  // (x1, x0, x3, x2, ...)
    const __m256 out =
        _mm256_add_ps(_mm256_mul_ps(v, _mm256_loadu_ps(c + j)), _mm256_mul_ps(swapped, _mm256_loadu_ps(s + j)));
    _mm256_storeu_ps(x + j, out);
  }
  for (; j + 1 < rope_dim; j += 2) {
    const float x0 = x[j];
    const float x1 = x[j + 1];
    x[j] = x0 * c[j] + x1 * s[j];
    x[j + 1] = x1 * c[j + 1] + x0 * s[j + 1];
  }
}

STRATA_AVX2 void rope_neox(float* x, const float* c, const float* s, int64_t rope_dim) {
  const int64_t half = rope_dim / 2;
  float* hi = x + half;
  const float* c_hi = c + half;
  const float* s_hi = s + half;
  int64_t j = 0;
  for (; j + 8 <= half; j += 8) {
    const __m256 lo_v = _mm256_loadu_ps(x + j);
    const __m256 hi_v = _mm256_loadu_ps(hi + j);
    const __m256 lo_out =
        _mm256_add_ps(_mm256_mul_ps(lo_v, _mm256_loadu_ps(c + j)), _mm256_mul_ps(hi_v, _mm256_loadu_ps(s + j)));
    const __m256 hi_out = _mm256_add_ps(_mm256_mul_ps(hi_v, _mm256_loadu_ps(c_hi + j)),
                                        _mm256_mul_ps(lo_v, _mm256_loadu_ps(s_hi + j)));
    _mm256_storeu_ps(x + j, lo_out);
    _mm256_storeu_ps(hi + j, hi_out);
  }
  for (; j < half; ++j) {
    const float lo = x[j];
    const float h = hi[j];
    x[j] = lo * c[j] + h * s[j];
    hi[j] = h * c_hi[j] + lo * s_hi[j];
  }
}

constexpr OpKernels kAvx2 = {sum_squares, scale_mul, swiglu, add, rope_normal, rope_neox};

}  // namespace

const OpKernels* avx2_op_kernels() { return &kAvx2; }

}  // namespace strata::backend::cpu

#else

namespace strata::backend::cpu {
const OpKernels* avx2_op_kernels() { return nullptr; }
}  // namespace strata::backend::cpu

#endif
