// AVX-512 KV row loaders and writers: 4- and 5-bit types decode through a 16/32-entry table
// of scaled levels (one vpermps per 16 values); results equal the portable code bit for bit.
#include "backend/cpu/kv_rows_isa.h"

#if defined(STRATA_CPU_X86)
#include <immintrin.h>

// GCC 12's AVX-512 headers start results from a self-initialized "undefined" vector and then
// warn about it at every inlined call (GCC bug 105593); nothing here reads such a value.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "quant/blocks.h"

#define STRATA_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,bmi,bmi2")))
#define STRATA_AVX512_INLINE \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c,bmi,bmi2"), always_inline)) inline

namespace strata::backend::cpu::detail {
namespace {

STRATA_AVX512_INLINE float half_at(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }

// Keeps the compiler from fusing a product with a later add (ggml rounds both).
STRATA_AVX512_INLINE __m512 unfused(__m512 v) {
  asm("" : "+v"(v));
  return v;
}

STRATA_AVX512_INLINE __m512 iota16() {
  return _mm512_setr_ps(0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f, 9.f, 10.f, 11.f, 12.f, 13.f, 14.f, 15.f);
}

// Nibble indices of a 16-byte 4-bit block: elements 0..15 (low nibbles), 16..31 (high).
STRATA_AVX512_INLINE void nibble_indices(const uint8_t* qs, __m512i& lo, __m512i& hi) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0F);
  lo = _mm512_cvtepu8_epi32(_mm_and_si128(b, mask));
  hi = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(b, 4), mask));
}

STRATA_AVX512_INLINE void load_f16(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * i))));
  }
  if (i < n) {
    const auto m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p + 2 * i)));
  }
}

STRATA_AVX512_INLINE void load_bf16(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * i)));
    _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
  if (i < n) {
    const auto m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p + 2 * i));
    _mm512_mask_storeu_ps(dst + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
}

STRATA_AVX512_INLINE void load_q8_0(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ8_0), dst += 32) {
    const __m512 d = _mm512_set1_ps(half_at(p));
    const __m512i q0 = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2)));
    const __m512i q1 = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18)));
    _mm512_storeu_ps(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(q0), d));
    _mm512_storeu_ps(dst + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(q1), d));
  }
}

STRATA_AVX512_INLINE void load_q4_0(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  const __m512 levels = _mm512_sub_ps(iota16(), _mm512_set1_ps(8.f));
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ4_0), dst += 32) {
    const __m512 table = _mm512_mul_ps(levels, _mm512_set1_ps(half_at(p)));
    __m512i lo, hi;
    nibble_indices(p + 2, lo, hi);
    _mm512_storeu_ps(dst, _mm512_permutexvar_ps(lo, table));
    _mm512_storeu_ps(dst + 16, _mm512_permutexvar_ps(hi, table));
  }
}

STRATA_AVX512_INLINE void load_q4_1(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ4_1), dst += 32) {
    const __m512 table =
        _mm512_add_ps(unfused(_mm512_mul_ps(iota16(), _mm512_set1_ps(half_at(p)))), _mm512_set1_ps(half_at(p + 2)));
    __m512i lo, hi;
    nibble_indices(p + 4, lo, hi);
    _mm512_storeu_ps(dst, _mm512_permutexvar_ps(lo, table));
    _mm512_storeu_ps(dst + 16, _mm512_permutexvar_ps(hi, table));
  }
}

STRATA_AVX512_INLINE void load_iq4_nl(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  const __m512 levels = _mm512_cvtepi32_ps(
      _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kIQ4Values))));
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockIQ4_NL), dst += 32) {
    const __m512 table = _mm512_mul_ps(levels, _mm512_set1_ps(half_at(p)));
    __m512i lo, hi;
    nibble_indices(p + 2, lo, hi);
    _mm512_storeu_ps(dst, _mm512_permutexvar_ps(lo, table));
    _mm512_storeu_ps(dst + 16, _mm512_permutexvar_ps(hi, table));
  }
}

// 5-bit types: a 32-entry table in two registers; the fifth bits set bit 4 of the index
// through a mask register.
STRATA_AVX512_INLINE void store_q5(const uint8_t* qs, uint32_t qh, __m512 t0, __m512 t1, float* dst) {
  __m512i lo, hi;
  nibble_indices(qs, lo, hi);
  const __m512i sixteen = _mm512_set1_epi32(16);
  lo = _mm512_mask_or_epi32(lo, static_cast<__mmask16>(qh & 0xFFFF), lo, sixteen);
  hi = _mm512_mask_or_epi32(hi, static_cast<__mmask16>(qh >> 16), hi, sixteen);
  _mm512_storeu_ps(dst, _mm512_permutex2var_ps(t0, lo, t1));
  _mm512_storeu_ps(dst + 16, _mm512_permutex2var_ps(t0, hi, t1));
}

STRATA_AVX512_INLINE void load_q5_0(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  const __m512 levels0 = _mm512_sub_ps(iota16(), _mm512_set1_ps(16.f));
  const __m512 levels1 = iota16();
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ5_0), dst += 32) {
    const __m512 d = _mm512_set1_ps(half_at(p));
    store_q5(p + 6, load_u32(p + 2), _mm512_mul_ps(levels0, d), _mm512_mul_ps(levels1, d), dst);
  }
}

STRATA_AVX512_INLINE void load_q5_1(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  const __m512 levels0 = iota16();
  const __m512 levels1 = _mm512_add_ps(iota16(), _mm512_set1_ps(16.f));
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ5_1), dst += 32) {
    const __m512 d = _mm512_set1_ps(half_at(p));
    const __m512 m = _mm512_set1_ps(half_at(p + 2));
    const __m512 t0 = _mm512_add_ps(unfused(_mm512_mul_ps(levels0, d)), m);
    const __m512 t1 = _mm512_add_ps(unfused(_mm512_mul_ps(levels1, d)), m);
    store_q5(p + 8, load_u32(p + 4), t0, t1, dst);
  }
}

// Writers. f16 and bf16 round to nearest even like ggml's converters; NaNs may keep a
// different payload.
STRATA_AVX512 void write_f16(const float* src, void* dst, int64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 2 * i), h);
  }
  if (i < n) {
    const auto m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m256i h =
        _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm256_mask_storeu_epi16(p + 2 * i, m, h);
  }
}

STRATA_AVX512_INLINE __m256i to_bf16(__m512 v) {
  const __m512i x = _mm512_castps_si512(v);
  const __m512i abs = _mm512_and_si512(x, _mm512_set1_epi32(0x7FFFFFFF));
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7F800000));
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(x, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), odd)), 16);
  r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(x, 16), _mm512_set1_epi32(64));
  return _mm512_cvtepi32_epi16(r);
}

STRATA_AVX512 void write_bf16(const float* src, void* dst, int64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 2 * i), to_bf16(_mm512_loadu_ps(src + i)));
  }
  if (i < n) {
    const auto m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm256_mask_storeu_epi16(p + 2 * i, m, to_bf16(_mm512_maskz_loadu_ps(m, src + i)));
  }
}

// roundf(): to nearest, ties away from zero.
STRATA_AVX512_INLINE __m512 round_half_away(__m512 x) {
  const __m512 t = _mm512_roundscale_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(x, t));
  const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 one = _mm512_or_ps(_mm512_and_ps(x, _mm512_set1_ps(-0.f)), _mm512_set1_ps(1.f));
  return _mm512_mask_add_ps(t, up, t, one);
}

STRATA_AVX512 void write_q8_0(const float* src, void* dst, int64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / 32; ++b, src += 32, p += sizeof(quant::BlockQ8_0)) {
    const __m512 x0 = _mm512_loadu_ps(src);
    const __m512 x1 = _mm512_loadu_ps(src + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    store_u16(p, _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i q0 = _mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(x0, vid)));
    const __m512i q1 = _mm512_cvttps_epi32(round_half_away(_mm512_mul_ps(x1, vid)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 2), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 18), _mm512_cvtepi32_epi8(q1));
  }
}

// ggml's min(15, (int8_t)(x * id + 8.5f)) per element, as 32-bit lanes (low byte kept).
STRATA_AVX512_INLINE __m512i q4_0_code(__m512 x, __m512 id) {
  const __m512 v = _mm512_add_ps(unfused(_mm512_mul_ps(x, id)), _mm512_set1_ps(8.5f));
  __m512i i = _mm512_cvttps_epi32(v);
  i = _mm512_srai_epi32(_mm512_slli_epi32(i, 24), 24);
  return _mm512_and_si512(_mm512_min_epi32(i, _mm512_set1_epi32(15)), _mm512_set1_epi32(0xFF));
}

STRATA_AVX512 void write_q4_0(const float* src, void* dst, int64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / 32; ++b, src += 32, p += sizeof(quant::BlockQ4_0)) {
    const __m512 x0 = _mm512_loadu_ps(src);
    const __m512 x1 = _mm512_loadu_ps(src + 16);
    const __m512 a0 = _mm512_abs_ps(x0);
    const __m512 a1 = _mm512_abs_ps(x1);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
    // The first element of largest magnitude, with its sign (0 for an all-zero block).
    float max = 0.f;
    if (amax > 0.f) {
      const __m512 va = _mm512_set1_ps(amax);
      const uint32_t hits = static_cast<uint32_t>(_mm512_cmp_ps_mask(a0, va, _CMP_EQ_OQ)) |
                            (static_cast<uint32_t>(_mm512_cmp_ps_mask(a1, va, _CMP_EQ_OQ)) << 16);
      if (hits != 0) max = src[__builtin_ctz(hits)];
    }
    const float d = max / -8.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    store_u16(p, _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i code = _mm512_or_si512(q4_0_code(x0, vid), _mm512_slli_epi32(q4_0_code(x1, vid), 4));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 2), _mm512_cvtepi32_epi8(code));
  }
}

template <void (*Row)(const void*, float*, int64_t)>
STRATA_AVX512 void row(const void* src, float* dst, int64_t n) {
  Row(src, dst, n);
}

template <void (*Row)(const void*, float*, int64_t)>
STRATA_AVX512 void tile(const uint8_t* src, size_t stride, int rows, int64_t n, float* dst) {
  for (int i = 0; i < rows; ++i) Row(src + static_cast<size_t>(i) * stride, dst + i * n, n);
}

}  // namespace

KvTileLoader kv_tile_loader_avx512(quant::Type type) {
  switch (type) {
    case quant::Type::F16: return tile<load_f16>;
    case quant::Type::BF16: return tile<load_bf16>;
    case quant::Type::Q8_0: return tile<load_q8_0>;
    case quant::Type::Q5_1: return tile<load_q5_1>;
    case quant::Type::Q5_0: return tile<load_q5_0>;
    case quant::Type::Q4_1: return tile<load_q4_1>;
    case quant::Type::Q4_0: return tile<load_q4_0>;
    case quant::Type::IQ4_NL: return tile<load_iq4_nl>;
    default: return nullptr;
  }
}

KvRowLoader kv_loader_avx512(quant::Type type) {
  switch (type) {
    case quant::Type::F16: return row<load_f16>;
    case quant::Type::BF16: return row<load_bf16>;
    case quant::Type::Q8_0: return row<load_q8_0>;
    case quant::Type::Q5_1: return row<load_q5_1>;
    case quant::Type::Q5_0: return row<load_q5_0>;
    case quant::Type::Q4_1: return row<load_q4_1>;
    case quant::Type::Q4_0: return row<load_q4_0>;
    case quant::Type::IQ4_NL: return row<load_iq4_nl>;
    default: return nullptr;  // f32: the portable memcpy
  }
}

KvRowWriter kv_writer_avx512(quant::Type type) {
  switch (type) {
    case quant::Type::F16: return write_f16;
    case quant::Type::BF16: return write_bf16;
    case quant::Type::Q8_0: return write_q8_0;
    case quant::Type::Q4_0: return write_q4_0;
    default: return nullptr;  // the reference quantizer
  }
}

}  // namespace strata::backend::cpu::detail

#else

namespace strata::backend::cpu::detail {
KvTileLoader kv_tile_loader_avx512(quant::Type) { return nullptr; }
KvRowLoader kv_loader_avx512(quant::Type) { return nullptr; }
KvRowWriter kv_writer_avx512(quant::Type) { return nullptr; }
}  // namespace strata::backend::cpu::detail

#endif
