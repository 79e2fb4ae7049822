// AVX2 KV row loaders and writers (8 floats per vector); results equal the portable code bit
// for bit.
#include "backend/cpu/kv_rows_isa.h"

#if defined(STRATA_CPU_X86)
#include <immintrin.h>

// GCC 12's AVX-512 headers start results from a self-initialized "undefined" vector and then
// warn about it at every inlined call (GCC bug 105593); nothing here reads such a value.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "quant/blocks.h"

#define STRATA_AVX2 __attribute__((target("avx2,fma,f16c,bmi,bmi2")))
#define STRATA_AVX2_INLINE __attribute__((target("avx2,fma,f16c,bmi,bmi2"), always_inline)) inline

namespace strata::backend::cpu::detail {
namespace {

STRATA_AVX2_INLINE float half_at(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }

STRATA_AVX2_INLINE __m256 unfused(__m256 v) {
  asm("" : "+x"(v));
  return v;
}

STRATA_AVX2_INLINE __m128i load8(const uint8_t* p) { return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)); }

STRATA_AVX2_INLINE void load_f16(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i))));
  }
  for (; i < n; ++i) dst[i] = half_at(p + 2 * i);
}

STRATA_AVX2_INLINE void load_bf16(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(load_u16(p + 2 * i)) << 16;
    std::memcpy(dst + i, &bits, sizeof bits);
  }
}

STRATA_AVX2_INLINE void load_q8_0(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ8_0), dst += 32) {
    const __m256 d = _mm256_set1_ps(half_at(p));
    for (int k = 0; k < 4; ++k) {
      const __m256i q = _mm256_cvtepi8_epi32(load8(p + 2 + 8 * k));
      _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
    }
  }
}

// The 32 nibbles of a 4-bit block as bytes in element order (low nibbles, then high).
STRATA_AVX2_INLINE __m256i nibbles(const uint8_t* qs) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), mask), _mm_and_si128(b, mask));
}

// 8 bytes of v starting at byte k*8, widened to 32-bit lanes.
STRATA_AVX2_INLINE __m256i widen_u8(__m256i v, int k) {
  const __m128i half = k < 2 ? _mm256_castsi256_si128(v) : _mm256_extracti128_si256(v, 1);
  return _mm256_cvtepu8_epi32((k & 1) ? _mm_srli_si128(half, 8) : half);
}

STRATA_AVX2_INLINE void load_q4_0(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  const __m256i eight = _mm256_set1_epi32(8);
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ4_0), dst += 32) {
    const __m256 d = _mm256_set1_ps(half_at(p));
    const __m256i nib = nibbles(p + 2);
    for (int k = 0; k < 4; ++k) {
      const __m256i q = _mm256_sub_epi32(widen_u8(nib, k), eight);
      _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
    }
  }
}

STRATA_AVX2_INLINE void load_q4_1(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ4_1), dst += 32) {
    const __m256 d = _mm256_set1_ps(half_at(p));
    const __m256 m = _mm256_set1_ps(half_at(p + 2));
    const __m256i nib = nibbles(p + 4);
    for (int k = 0; k < 4; ++k) {
      const __m256 v = unfused(_mm256_mul_ps(_mm256_cvtepi32_ps(widen_u8(nib, k)), d));
      _mm256_storeu_ps(dst + 8 * k, _mm256_add_ps(v, m));
    }
  }
}

STRATA_AVX2_INLINE void load_iq4_nl(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  const __m128i levels = _mm_loadu_si128(reinterpret_cast<const __m128i*>(quant::kIQ4Values));
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockIQ4_NL), dst += 32) {
    const __m256 d = _mm256_set1_ps(half_at(p));
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_shuffle_epi8(levels, _mm_and_si128(raw, mask));
    const __m128i hi = _mm_shuffle_epi8(levels, _mm_and_si128(_mm_srli_epi16(raw, 4), mask));
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; ++k) {
      const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[k]));
      _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(d, v));
    }
  }
}

// Fifth bits 8k..8k+7 of qh as 0 or 16 in 32-bit lanes.
STRATA_AVX2_INLINE __m256i fifth_bits(uint32_t qh, int k) {
  const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i set = _mm256_set1_epi32(static_cast<int>((qh >> (8 * k)) & 0xFF));
  const __m256i on = _mm256_cmpeq_epi32(_mm256_and_si256(set, bits), bits);
  return _mm256_and_si256(on, _mm256_set1_epi32(16));
}

STRATA_AVX2_INLINE void load_q5_0(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  const __m256i sixteen = _mm256_set1_epi32(16);
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ5_0), dst += 32) {
    const __m256 d = _mm256_set1_ps(half_at(p));
    const uint32_t qh = load_u32(p + 2);
    const __m256i nib = nibbles(p + 6);
    for (int k = 0; k < 4; ++k) {
      const __m256i q = _mm256_sub_epi32(_mm256_or_si256(widen_u8(nib, k), fifth_bits(qh, k)), sixteen);
      _mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
    }
  }
}

STRATA_AVX2_INLINE void load_q5_1(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ5_1), dst += 32) {
    const __m256 d = _mm256_set1_ps(half_at(p));
    const __m256 m = _mm256_set1_ps(half_at(p + 2));
    const uint32_t qh = load_u32(p + 4);
    const __m256i nib = nibbles(p + 8);
    for (int k = 0; k < 4; ++k) {
      const __m256i q = _mm256_or_si256(widen_u8(nib, k), fifth_bits(qh, k));
      const __m256 v = unfused(_mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
      _mm256_storeu_ps(dst + 8 * k, _mm256_add_ps(v, m));
    }
  }
}

STRATA_AVX2 void write_f16(const float* src, void* dst, int64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 2 * i), h);
  }
  for (; i < n; ++i) {
    store_u16(p + 2 * i, static_cast<uint16_t>(_cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
  }
}

// roundf(): to nearest, ties away from zero.
STRATA_AVX2_INLINE __m256 round_half_away(__m256 x) {
  const __m256 t = _mm256_round_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.f));
  const __m256 frac = _mm256_andnot_ps(_mm256_set1_ps(-0.f), _mm256_sub_ps(x, t));
  const __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  return _mm256_add_ps(t, _mm256_and_ps(up, _mm256_or_ps(sign, _mm256_set1_ps(1.f))));
}

// Low bytes of eight 32-bit lanes.
STRATA_AVX2_INLINE uint64_t low_bytes(__m256i v) {
  const __m256i shuf = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12,
                                        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i packed = _mm256_shuffle_epi8(v, shuf);
  const uint64_t lo = static_cast<uint32_t>(_mm256_extract_epi32(packed, 0));
  const uint64_t hi = static_cast<uint32_t>(_mm256_extract_epi32(packed, 4));
  return lo | (hi << 32);
}

STRATA_AVX2_INLINE float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

STRATA_AVX2 void write_q8_0(const float* src, void* dst, int64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  for (int64_t b = 0; b < n / 32; ++b, src += 32, p += sizeof(quant::BlockQ8_0)) {
    __m256 x[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      x[k] = _mm256_loadu_ps(src + 8 * k);
      amax = _mm256_max_ps(amax, _mm256_and_ps(x[k], abs_mask));
    }
    const float d = hmax(amax) / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    store_u16(p, static_cast<uint16_t>(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    const __m256 vid = _mm256_set1_ps(id);
    for (int k = 0; k < 4; ++k) {
      const uint64_t bytes = low_bytes(_mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(x[k], vid))));
      std::memcpy(p + 2 + 8 * k, &bytes, sizeof bytes);
    }
  }
}

STRATA_AVX2_INLINE __m256i q4_0_code(__m256 x, __m256 id) {
  const __m256 v = _mm256_add_ps(unfused(_mm256_mul_ps(x, id)), _mm256_set1_ps(8.5f));
  __m256i i = _mm256_cvttps_epi32(v);
  i = _mm256_srai_epi32(_mm256_slli_epi32(i, 24), 24);
  return _mm256_and_si256(_mm256_min_epi32(i, _mm256_set1_epi32(15)), _mm256_set1_epi32(0xFF));
}

STRATA_AVX2 void write_q4_0(const float* src, void* dst, int64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  for (int64_t b = 0; b < n / 32; ++b, src += 32, p += sizeof(quant::BlockQ4_0)) {
    __m256 x[4], a[4];
    __m256 amax_v = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      x[k] = _mm256_loadu_ps(src + 8 * k);
      a[k] = _mm256_and_ps(x[k], abs_mask);
      amax_v = _mm256_max_ps(amax_v, a[k]);
    }
    const float amax = hmax(amax_v);
    float max = 0.f;
    if (amax > 0.f) {
      const __m256 va = _mm256_set1_ps(amax);
      uint32_t hits = 0;
      for (int k = 0; k < 4; ++k) {
        hits |= static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(a[k], va, _CMP_EQ_OQ))) << (8 * k);
      }
      if (hits != 0) max = src[__builtin_ctz(hits)];
    }
    const float d = max / -8.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    store_u16(p, static_cast<uint16_t>(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    const __m256 vid = _mm256_set1_ps(id);
    for (int k = 0; k < 2; ++k) {
      const __m256i code =
          _mm256_or_si256(q4_0_code(x[k], vid), _mm256_slli_epi32(q4_0_code(x[k + 2], vid), 4));
      const uint64_t bytes = low_bytes(code);
      std::memcpy(p + 2 + 8 * k, &bytes, sizeof bytes);
    }
  }
}

template <void (*Row)(const void*, float*, int64_t)>
STRATA_AVX2 void row(const void* src, float* dst, int64_t n) {
  Row(src, dst, n);
}

template <void (*Row)(const void*, float*, int64_t)>
STRATA_AVX2 void tile(const uint8_t* src, size_t stride, int rows, int64_t n, float* dst) {
  for (int i = 0; i < rows; ++i) Row(src + static_cast<size_t>(i) * stride, dst + i * n, n);
}

}  // namespace

KvTileLoader kv_tile_loader_avx2(quant::Type type) {
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

KvRowLoader kv_loader_avx2(quant::Type type) {
  switch (type) {
    case quant::Type::F16: return row<load_f16>;
    case quant::Type::BF16: return row<load_bf16>;
    case quant::Type::Q8_0: return row<load_q8_0>;
    case quant::Type::Q5_1: return row<load_q5_1>;
    case quant::Type::Q5_0: return row<load_q5_0>;
    case quant::Type::Q4_1: return row<load_q4_1>;
    case quant::Type::Q4_0: return row<load_q4_0>;
    case quant::Type::IQ4_NL: return row<load_iq4_nl>;
    default: return nullptr;
  }
}

KvRowWriter kv_writer_avx2(quant::Type type) {
  switch (type) {
    case quant::Type::F16: return write_f16;
    case quant::Type::Q8_0: return write_q8_0;
    case quant::Type::Q4_0: return write_q4_0;
    default: return nullptr;
  }
}

}  // namespace strata::backend::cpu::detail

#else

namespace strata::backend::cpu::detail {
KvTileLoader kv_tile_loader_avx2(quant::Type) { return nullptr; }
KvRowLoader kv_loader_avx2(quant::Type) { return nullptr; }
KvRowWriter kv_writer_avx2(quant::Type) { return nullptr; }
}  // namespace strata::backend::cpu::detail

#endif
