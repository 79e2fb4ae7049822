// Device-side decoders of the ggml block formats: 8 consecutive elements of a row at a time,
// each product rounded as quant::dequantize_row rounds it (explicit _rn intrinsics, which the
// compiler never fuses into FMAs), so get_rows matches the CPU bit for bit.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "backend/cuda/kernels.h"

namespace strata::backend::cuda {

__device__ __forceinline__ uint32_t ld_u16(const uint8_t* p) { return p[0] | (static_cast<uint32_t>(p[1]) << 8); }
__device__ __forceinline__ uint32_t ld_u32(const uint8_t* p) {
  return p[0] | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
__device__ __forceinline__ float half_bits_to_float(uint32_t bits) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(bits)));
}
__device__ __forceinline__ float ld_half(const uint8_t* p) { return half_bits_to_float(ld_u16(p)); }
__device__ __forceinline__ uint32_t load_half_bits(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }
__device__ __forceinline__ float bf16_bits_to_float(uint32_t bits) { return __uint_as_float(bits << 16); }

// kIQ4Values, packed four per word so a lookup is a shift rather than a memory access.
__device__ __forceinline__ uint32_t iq4_level_byte(int index) {
  constexpr uint32_t kPacked[4] = {0xBFAD9881u, 0xF6EADDCFu, 0x26190D01u, 0x71594535u};
  const uint32_t word = index < 4 ? kPacked[0] : index < 8 ? kPacked[1] : index < 12 ? kPacked[2] : kPacked[3];
  return (word >> (8 * (index & 3))) & 0xFF;
}
__device__ __forceinline__ int iq4_level(int index) { return static_cast<int8_t>(iq4_level_byte(index)); }

// n - bias as a float, exactly, for 0 <= n < 2^23 and a small integer bias: n goes into the
// mantissa of 2^23 and the subtraction of 2^23 + bias is exact. The block decoders use this
// instead of an integer-to-float conversion, a quarter-rate instruction on sm_80 and sm_90
// that bounds the attention kernels' K/V decoding.
__device__ __forceinline__ float small_minus(uint32_t n, float bias) {
  return __fsub_rn(__uint_as_float(0x4B000000u | n), 8388608.f + bias);
}
// The same for byte i of w, placed by one byte permute.
__device__ __forceinline__ float byte_minus(uint32_t w, int i, float bias) {
  return __fsub_rn(__uint_as_float(__byte_perm(w, 0x4B000000u, 0x7540u | static_cast<uint32_t>(i))), 8388608.f + bias);
}

// Eight bytes at p as two little-endian words, with the widest loads that kAlign (the
// guaranteed alignment of p) allows: one 8-byte load down to eight byte loads.
template <int kAlign>
__device__ __forceinline__ uint2 load8(const uint8_t* p) {
  if constexpr (kAlign >= 8) {
    return *reinterpret_cast<const uint2*>(p);
  } else if constexpr (kAlign >= 4) {
    const uint32_t* w = reinterpret_cast<const uint32_t*>(p);
    return make_uint2(w[0], w[1]);
  } else if constexpr (kAlign >= 2) {
    const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
    return make_uint2(h[0] | (static_cast<uint32_t>(h[1]) << 16), h[2] | (static_cast<uint32_t>(h[3]) << 16));
  } else {
    return make_uint2(ld_u32(p), ld_u32(p + 4));
  }
}
// 4N bytes at a 2-byte aligned p (a block of 18, 22, 34, 110 or 210 bytes starts at any even
// offset) as N little-endian words, from N + 1 aligned 4-byte loads and funnel shifts rather
// than 2N 2-byte loads: a decode matvec on these types is bound by load instructions, not
// bytes. The extra word is loaded only when p is not 4-byte aligned (it then lies inside the
// block), so nothing past the block is touched.
template <int N>
__device__ __forceinline__ void load_words_a2(const uint8_t* p, uint32_t (&out)[N]) {
  const auto addr = reinterpret_cast<uintptr_t>(p);
  const auto* base = reinterpret_cast<const uint32_t*>(addr & ~static_cast<uintptr_t>(3));
  const uint32_t shift = static_cast<uint32_t>(addr & 2) * 8;  // 0 or 16 bits
  uint32_t w[N + 1];
#pragma unroll
  for (int i = 0; i < N; ++i) w[i] = base[i];
  w[N] = shift != 0 ? base[N] : 0u;
#pragma unroll
  for (int i = 0; i < N; ++i) out[i] = __funnelshift_r(w[i], w[i + 1], shift);
}

__device__ __forceinline__ uint32_t byte_of(uint2 w, int i) { return ((i < 4 ? w.x : w.y) >> (8 * (i & 3))) & 0xFF; }

template <int kAlign>
__device__ __forceinline__ float load_half(const uint8_t* p) {
  if constexpr (kAlign >= 2) {
    return half_bits_to_float(*reinterpret_cast<const uint16_t*>(p));
  } else {
    return ld_half(p);
  }
}

// Elements e..e+7 (e a multiple of 8) of a row of `kType` starting at row. kAligned: the row
// start is aligned to 16 bytes for the float types and to its block's natural alignment
// for the block types (always so for weights; KV rows need no alignment, so attention
// passes false when a cache's strides do not keep it).
template <uint32_t kType, bool kAligned = true>
__device__ __forceinline__ void decode8(const uint8_t* __restrict__ row, int64_t e, float v[8]) {
  if constexpr (kType == kF32) {
    if constexpr (kAligned) {
      const float4* f = reinterpret_cast<const float4*>(row + 4 * e);
      const float4 a = f[0], b = f[1];
      v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = __uint_as_float(ld_u32(row + 4 * (e + i)));
    }
  } else if constexpr (kType == kF16 || kType == kBF16) {
    uint32_t w[4];
    if constexpr (kAligned) {
      const uint4 q = *reinterpret_cast<const uint4*>(row + 2 * e);
      w[0] = q.x, w[1] = q.y, w[2] = q.z, w[3] = q.w;
    } else {
#pragma unroll
      for (int i = 0; i < 4; ++i) w[i] = ld_u32(row + 2 * e + 4 * i);
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t bits = (w[i / 2] >> (16 * (i & 1))) & 0xFFFF;
      v[i] = kType == kF16 ? half_bits_to_float(bits) : bf16_bits_to_float(bits);
    }
  } else if constexpr (kType == kQ4_0 || kType == kIQ4_NL) {
    constexpr int kA = kAligned ? 2 : 1;
    const uint8_t* b = row + (e >> 5) * 18;
    const int j = static_cast<int>(e & 31);
    const float d = load_half<kA>(b);
    const uint2 q = load8<kA>(b + 2 + (j & 15));
    const int shift = j >= 16 ? 4 : 0;
    const uint32_t nib[2] = {(q.x >> shift) & 0x0F0F0F0Fu, (q.y >> shift) & 0x0F0F0F0Fu};
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      if constexpr (kType == kQ4_0) {
        v[i] = __fmul_rn(byte_minus(nib[i / 4], i % 4, 8.f), d);
      } else {  // the level's byte, offset by 128 to be unsigned
        const int n = static_cast<int>((nib[i / 4] >> (8 * (i % 4))) & 0xF);
        v[i] = __fmul_rn(d, small_minus(iq4_level_byte(n) ^ 0x80u, 128.f));
      }
    }
  } else if constexpr (kType == kQ4_1) {
    constexpr int kA = kAligned ? 4 : 1;
    const uint8_t* b = row + (e >> 5) * 20;
    const int j = static_cast<int>(e & 31);
    const float d = load_half<kA>(b);
    const float m = load_half<kA>(b + 2);
    const uint2 q = load8<kA>(b + 4 + (j & 15));
    const int shift = j >= 16 ? 4 : 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      v[i] = __fadd_rn(__fmul_rn(small_minus((byte_of(q, i) >> shift) & 0xF, 0.f), d), m);
    }
  } else if constexpr (kType == kQ5_0 || kType == kQ5_1) {
    constexpr int kBytes = kType == kQ5_0 ? 22 : 24;
    constexpr int kQh = kType == kQ5_0 ? 2 : 4;
    constexpr int kA = kAligned ? (kType == kQ5_0 ? 2 : 8) : 1;
    const uint8_t* b = row + (e >> 5) * kBytes;
    const int j = static_cast<int>(e & 31);
    const float d = load_half<kA>(b);
    const uint32_t qh = kA >= 4 ? *reinterpret_cast<const uint32_t*>(b + kQh)
                                : (kA >= 2 ? (reinterpret_cast<const uint16_t*>(b + kQh)[0] |
                                              (static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(b + kQh)[1]) << 16))
                                           : ld_u32(b + kQh));
    const uint2 q = load8<kA>(b + kQh + 4 + (j & 15));
    const int shift = j >= 16 ? 4 : 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t n = ((byte_of(q, i) >> shift) & 0xF) | (((qh >> (j + i)) & 1) << 4);
      if constexpr (kType == kQ5_0) {
        v[i] = __fmul_rn(small_minus(n, 16.f), d);
      } else {
        v[i] = __fadd_rn(__fmul_rn(small_minus(n, 0.f), d), load_half<kA>(b + 2));
      }
    }
  } else if constexpr (kType == kQ8_0) {
    constexpr int kA = kAligned ? 2 : 1;
    const uint8_t* b = row + (e >> 5) * 34;
    const int j = static_cast<int>(e & 31);
    const float d = load_half<kA>(b);
    const uint2 q = load8<kA>(b + 2 + j);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = __fmul_rn(byte_minus((i < 4 ? q.x : q.y) ^ 0x80808080u, i % 4, 128.f), d);
  } else if constexpr (kType == kQ2_K) {
    const uint8_t* b = row + (e >> 8) * 84;
    const int o = static_cast<int>(e & 255);
    const int g = o >> 4;
    const int l0 = o & 15;
    const uint32_t sc = b[g];
    const float dl = __fmul_rn(load_half<2>(b + 80), static_cast<float>(sc & 0xF));
    const float ml = __fmul_rn(load_half<2>(b + 82), static_cast<float>(sc >> 4));
    const uint2 q = load8<4>(b + 16 + 32 * (g / 8) + 16 * (g % 2) + l0);
    const int shift = 2 * ((g / 2) % 4);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = __fsub_rn(__fmul_rn(dl, static_cast<float>((byte_of(q, i) >> shift) & 3)), ml);
  } else if constexpr (kType == kQ3_K) {
    const uint8_t* b = row + (e >> 8) * 110;
    const int o = static_cast<int>(e & 255);
    const int g = o >> 4;
    const int l0 = o & 15;
    const uint8_t* packed = b + 96;
    const int low = (packed[g % 8] >> (4 * (g / 8))) & 0xF;
    const int high = (packed[8 + g % 4] >> (2 * (g / 4))) & 3;
    const float dl = __fmul_rn(load_half<2>(b + 108), static_cast<float>((low | (high << 4)) - 32));
    const uint2 q = load8<2>(b + 32 + 32 * (g / 8) + 16 * (g % 2) + l0);
    const uint2 hm = load8<2>(b + 16 * (g % 2) + l0);
    const int shift = 2 * ((g / 2) % 4);
    const int hbit = g / 2;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int val = static_cast<int>((byte_of(q, i) >> shift) & 3) - 4 * (1 - static_cast<int>((byte_of(hm, i) >> hbit) & 1));
      v[i] = __fmul_rn(dl, static_cast<float>(val));
    }
  } else if constexpr (kType == kQ4_K || kType == kQ5_K) {
    constexpr int kBytes = kType == kQ4_K ? 144 : 176;
    constexpr int kQs = kType == kQ4_K ? 16 : 48;
    const uint8_t* b = row + (e >> 8) * kBytes;
    const int o = static_cast<int>(e & 255);
    const int c = o >> 6;
    const int within = o & 63;
    const int pair = 2 * c + (within >= 32 ? 1 : 0);
    const uint8_t* s = b + 4;
    int sc, mn;
    if (pair < 4) {
      sc = s[pair] & 63;
      mn = s[pair + 4] & 63;
    } else {
      sc = (s[pair + 4] & 0xF) | ((s[pair - 4] >> 6) << 4);
      mn = (s[pair + 4] >> 4) | ((s[pair] >> 6) << 4);
    }
    const float d1 = __fmul_rn(load_half<2>(b), static_cast<float>(sc));
    const float m1 = __fmul_rn(load_half<2>(b + 2), static_cast<float>(mn));
    const int l0 = within & 31;
    const uint2 q = load8<8>(b + kQs + 32 * c + l0);
    const int shift = within >= 32 ? 4 : 0;
    uint2 qh = make_uint2(0, 0);
    if constexpr (kType == kQ5_K) qh = load8<8>(b + 16 + l0);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      int n = static_cast<int>((byte_of(q, i) >> shift) & 0xF);
      if constexpr (kType == kQ5_K) n |= static_cast<int>((byte_of(qh, i) >> pair) & 1) << 4;
      v[i] = __fsub_rn(__fmul_rn(d1, static_cast<float>(n)), m1);
    }
  } else if constexpr (kType == kQ6_K) {
    const uint8_t* b = row + (e >> 8) * 210;
    const int o = static_cast<int>(e & 255);
    const int half = o >> 7;
    const int quarter = (o >> 5) & 3;
    const int l0 = o & 31;
    const uint2 ql = load8<2>(b + 64 * half + (quarter & 1) * 32 + l0);
    const uint2 qh = load8<2>(b + 128 + 32 * half + l0);
    const int8_t scale = static_cast<int8_t>(b[192 + 8 * half + 2 * quarter + l0 / 16]);
    const float dl = __fmul_rn(load_half<2>(b + 208), static_cast<float>(scale));
    const int low_shift = quarter >= 2 ? 4 : 0;
    const int high_shift = 2 * quarter;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int n = static_cast<int>(((byte_of(ql, i) >> low_shift) & 0xF) | (((byte_of(qh, i) >> high_shift) & 3) << 4)) - 32;
      v[i] = __fmul_rn(dl, static_cast<float>(n));
    }
  } else if constexpr (kType == kIQ4_XS) {
    const uint8_t* b = row + (e >> 8) * 136;
    const int o = static_cast<int>(e & 255);
    const int ib = o >> 5;
    const int j = o & 31;
    const int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((load_half_bits(b + 2) >> (2 * ib)) & 3) << 4);
    const float dl = __fmul_rn(load_half<2>(b), static_cast<float>(ls - 32));
    const uint2 q = load8<8>(b + 8 + 16 * ib + (j & 15));
    const int shift = j >= 16 ? 4 : 0;
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = __fmul_rn(dl, static_cast<float>(iq4_level(static_cast<int>((byte_of(q, i) >> shift) & 0xF))));
  }
}

// The same with the type chosen at run time (uniform across a warp, so the switch does not
// diverge): the loaders of get_rows, dequantization and attention.
template <bool kAligned = true>
__device__ __forceinline__ void decode8_any(uint32_t type, const uint8_t* __restrict__ row, int64_t e, float v[8]) {
  switch (type) {
    case kF32: decode8<kF32, kAligned>(row, e, v); break;
    case kF16: decode8<kF16, kAligned>(row, e, v); break;
    case kBF16: decode8<kBF16, kAligned>(row, e, v); break;
    case kQ4_0: decode8<kQ4_0, kAligned>(row, e, v); break;
    case kQ4_1: decode8<kQ4_1, kAligned>(row, e, v); break;
    case kQ5_0: decode8<kQ5_0, kAligned>(row, e, v); break;
    case kQ5_1: decode8<kQ5_1, kAligned>(row, e, v); break;
    case kQ8_0: decode8<kQ8_0, kAligned>(row, e, v); break;
    case kQ2_K: decode8<kQ2_K>(row, e, v); break;
    case kQ3_K: decode8<kQ3_K>(row, e, v); break;
    case kQ4_K: decode8<kQ4_K>(row, e, v); break;
    case kQ5_K: decode8<kQ5_K>(row, e, v); break;
    case kQ6_K: decode8<kQ6_K>(row, e, v); break;
    case kIQ4_NL: decode8<kIQ4_NL, kAligned>(row, e, v); break;
    case kIQ4_XS: decode8<kIQ4_XS>(row, e, v); break;
    default:
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = 0.f;
  }
}

}  // namespace strata::backend::cuda
