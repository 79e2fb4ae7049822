// Decode matmul for the block-quantized weight types on integer dot products: activations are
// first quantized to int8 per 32 values (scale d and d * sum, like ggml's q8_1), then each
// lane takes 32-element units of a weight row, unpacks them to eight words of int8 values
// with a few bit operations, and multiplies them with __dp4a (4 products per instruction).
// Each unit's result is d_x * (a0 * dot0 + a1 * dot1 + c0 * sum0 + c1 * sum1) + m * s_x, where
// dot0/dot1 are the integer dot products of its two 16-value halves, sum0/sum1 the sums of
// the activation quants there, and (a, c, m) come from the block's scales and offsets.
#include "backend/cuda/activation_quant.cuh"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_formats.cuh"
#include "backend/cuda/kernels.h"

#include <cstdlib>
#include <string>
#include <type_traits>

namespace strata::backend::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

struct Unit {
  int w[8];  // 32 int8 weights (unsigned values up to 63 or signed), element 4k+i in byte i of w[k]
  float a0 = 0.f, a1 = 0.f, c0 = 0.f, c1 = 0.f, m = 0.f;
};

__device__ __forceinline__ uint32_t spread4(uint32_t b) {
  return ((b & 1u) << 4) | ((b & 2u) << 11) | ((b & 4u) << 18) | ((b & 8u) << 25);
}

// Four nibbles (one per byte) to their four iq4 levels (int8 per byte).
__device__ __forceinline__ int iq4_word(uint32_t n) {
  const uint32_t sel = (n & 7u) | ((n >> 4) & 0x70u) | ((n >> 8) & 0x700u) | ((n >> 12) & 0x7000u);
  const uint32_t lo = __byte_perm(0xBFAD9881u, 0xF6EADDCFu, sel);
  const uint32_t hi = __byte_perm(0x26190D01u, 0x71594535u, sel);
  const uint32_t mask = ((n >> 3) & 0x01010101u) * 0xFFu;
  return static_cast<int>((hi & mask) | (lo & ~mask));
}

__device__ __forceinline__ void words16(uint2 a, uint2 b, uint32_t q[4]) {
  q[0] = a.x, q[1] = a.y, q[2] = b.x, q[3] = b.y;
}

// Unit u (elements 32u..32u+31) of a row.
template <uint32_t kType>
__device__ __forceinline__ void unpack(const uint8_t* __restrict__ row, int64_t u, Unit& o) {
  if constexpr (kType == kQ4_0 || kType == kIQ4_NL || kType == kQ4_1) {
    constexpr int kBytes = kType == kQ4_1 ? 20 : 18;
    constexpr int kQs = kType == kQ4_1 ? 4 : 2;
    constexpr int kA = kType == kQ4_1 ? 4 : 2;
    const uint8_t* b = row + u * kBytes;
    const float d = load_half<2>(b);
    uint32_t q[4];
    if constexpr (kA == 2) {
      load_words_a2(b + kQs, q);
    } else {
      words16(load8<kA>(b + kQs), load8<kA>(b + kQs + 8), q);
    }
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint32_t lo = q[k] & 0x0F0F0F0Fu, hi = (q[k] >> 4) & 0x0F0F0F0Fu;
      o.w[k] = kType == kIQ4_NL ? iq4_word(lo) : static_cast<int>(lo);
      o.w[4 + k] = kType == kIQ4_NL ? iq4_word(hi) : static_cast<int>(hi);
    }
    o.a0 = o.a1 = d;
    if constexpr (kType == kQ4_0) o.m = -8.f * d;
    if constexpr (kType == kQ4_1) o.m = load_half<2>(b + 2);
  } else if constexpr (kType == kQ5_0 || kType == kQ5_1) {
    constexpr int kBytes = kType == kQ5_0 ? 22 : 24;
    constexpr int kQh = kType == kQ5_0 ? 2 : 4;
    constexpr int kA = kType == kQ5_0 ? 2 : 8;  // of qs (b + 6 or b + 8)
    const uint8_t* b = row + u * kBytes;
    const float d = load_half<2>(b);
    uint32_t qh;
    uint32_t q[4];
    if constexpr (kType == kQ5_0) {
      uint32_t t[5];  // qh then qs, contiguous
      load_words_a2(b + 2, t);
      qh = t[0];
#pragma unroll
      for (int k = 0; k < 4; ++k) q[k] = t[k + 1];
    } else {
      qh = *reinterpret_cast<const uint32_t*>(b + 4);
      words16(load8<kA>(b + kQh + 4), load8<kA>(b + kQh + 12), q);
    }
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      o.w[k] = static_cast<int>((q[k] & 0x0F0F0F0Fu) | spread4((qh >> (4 * k)) & 0xFu));
      o.w[4 + k] = static_cast<int>(((q[k] >> 4) & 0x0F0F0F0Fu) | spread4((qh >> (16 + 4 * k)) & 0xFu));
    }
    o.a0 = o.a1 = d;
    o.m = kType == kQ5_0 ? -16.f * d : load_half<2>(b + 2);
  } else if constexpr (kType == kQ8_0) {
    const uint8_t* b = row + u * 34;
    const float d = load_half<2>(b);
    uint32_t q[8];
    load_words_a2(b + 2, q);
#pragma unroll
    for (int k = 0; k < 8; ++k) o.w[k] = static_cast<int>(q[k]);
    o.a0 = o.a1 = d;
  } else if constexpr (kType == kQ4_K || kType == kQ5_K) {
    constexpr int kBytes = kType == kQ4_K ? 144 : 176;
    constexpr int kQs = kType == kQ4_K ? 16 : 48;
    const uint8_t* b = row + (u >> 3) * kBytes;
    const int pair = static_cast<int>(u & 7);
    const uint8_t* s = b + 4;
    int sc, mn;
    if (pair < 4) {
      sc = s[pair] & 63;
      mn = s[pair + 4] & 63;
    } else {
      sc = (s[pair + 4] & 0xF) | ((s[pair - 4] >> 6) << 4);
      mn = (s[pair + 4] >> 4) | ((s[pair] >> 6) << 4);
    }
    const uint8_t* qs = b + kQs + 32 * (pair >> 1);
    const int shift = (pair & 1) * 4;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint2 p = load8<8>(qs + 8 * k);
      uint32_t w0 = (p.x >> shift) & 0x0F0F0F0Fu, w1 = (p.y >> shift) & 0x0F0F0F0Fu;
      if constexpr (kType == kQ5_K) {
        const uint2 h = load8<8>(b + 16 + 8 * k);
        w0 |= ((h.x >> pair) & 0x01010101u) << 4;
        w1 |= ((h.y >> pair) & 0x01010101u) << 4;
      }
      o.w[2 * k] = static_cast<int>(w0);
      o.w[2 * k + 1] = static_cast<int>(w1);
    }
    o.a0 = o.a1 = load_half<2>(b) * static_cast<float>(sc);
    o.m = -(load_half<2>(b + 2) * static_cast<float>(mn));
  } else if constexpr (kType == kQ6_K) {
    const uint8_t* b = row + (u >> 3) * 210;
    const int sub = static_cast<int>(u & 7);
    const int half = sub >> 2, quarter = sub & 3;
    const uint8_t* ql = b + 64 * half + 32 * (quarter & 1);
    const uint8_t* qh = b + 128 + 32 * half;
    const int lo_shift = quarter >= 2 ? 4 : 0, hi_shift = 2 * quarter;
    uint32_t l[8], h[8];
    load_words_a2(ql, l);
    load_words_a2(qh, h);
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      o.w[k] = static_cast<int>(((l[k] >> lo_shift) & 0x0F0F0F0Fu) | (((h[k] >> hi_shift) & 0x03030303u) << 4));
    }
    const float d = load_half<2>(b + 208);
    const auto* sc = reinterpret_cast<const int8_t*>(b + 192 + 8 * half + 2 * quarter);
    o.a0 = d * static_cast<float>(sc[0]);
    o.a1 = d * static_cast<float>(sc[1]);
    o.c0 = -32.f * o.a0;
    o.c1 = -32.f * o.a1;
  } else if constexpr (kType == kQ2_K) {
    const uint8_t* b = row + (u >> 3) * 84;
    const int sub = static_cast<int>(u & 7);
    const uint8_t* q = b + 16 + 32 * (sub >> 2);
    const int shift = 2 * (sub & 3);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const uint2 p = load8<4>(q + 8 * k);
      o.w[2 * k] = static_cast<int>((p.x >> shift) & 0x03030303u);
      o.w[2 * k + 1] = static_cast<int>((p.y >> shift) & 0x03030303u);
    }
    const float d = load_half<2>(b + 80), dmin = load_half<2>(b + 82);
    const uint32_t s0 = b[2 * sub], s1 = b[2 * sub + 1];
    o.a0 = d * static_cast<float>(s0 & 0xF);
    o.a1 = d * static_cast<float>(s1 & 0xF);
    o.c0 = -(dmin * static_cast<float>(s0 >> 4));
    o.c1 = -(dmin * static_cast<float>(s1 >> 4));
  } else if constexpr (kType == kQ3_K) {
    const uint8_t* b = row + (u >> 3) * 110;
    const int sub = static_cast<int>(u & 7);
    const uint8_t* q = b + 32 + 32 * (sub >> 2);
    const int shift = 2 * (sub & 3);
    uint32_t p[8], h[8];
    load_words_a2(q, p);
    load_words_a2(b, h);
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      o.w[k] = static_cast<int>(((p[k] >> shift) & 0x03030303u) | (((h[k] >> sub) & 0x01010101u) << 2));
    }
    const uint8_t* packed = b + 96;
    int sc[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int g = 2 * sub + i;
      sc[i] = (((packed[g % 8] >> (4 * (g / 8))) & 0xF) | (((packed[8 + g % 4] >> (2 * (g / 4))) & 3) << 4)) - 32;
    }
    const float d = load_half<2>(b + 108);
    o.a0 = d * static_cast<float>(sc[0]);
    o.a1 = d * static_cast<float>(sc[1]);
    o.c0 = -4.f * o.a0;
    o.c1 = -4.f * o.a1;
  } else if constexpr (kType == kIQ4_XS) {
    const uint8_t* b = row + (u >> 3) * 136;
    const int ib = static_cast<int>(u & 7);
    const int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((load_half_bits(b + 2) >> (2 * ib)) & 3) << 4);
    uint32_t q[4];
    words16(load8<8>(b + 8 + 16 * ib), load8<8>(b + 16 + 16 * ib), q);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      o.w[k] = iq4_word(q[k] & 0x0F0F0F0Fu);
      o.w[4 + k] = iq4_word((q[k] >> 4) & 0x0F0F0F0Fu);
    }
    o.a0 = o.a1 = load_half<2>(b) * static_cast<float>(ls - 32);
  }
}

template <uint32_t kType>
constexpr bool kNeedsHalfSums = kType == kQ6_K || kType == kQ2_K || kType == kQ3_K;

// One warp per 32 activations: int8 quants, scale d = amax / 127 and s = d * sum of quants.
__global__ void quantize_activations_kernel(const float* __restrict__ x, int64_t n_units, int8_t* __restrict__ xq,
                                            float2* __restrict__ xds) {
  allow_dependents_early();
  wait_for_predecessor();
  const int64_t unit = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  if (unit >= n_units) return;
  quantize_unit(x[unit * 32 + (threadIdx.x & 31)], unit, xq, xds);
}

// Up to kMaxMatvecParts matrices of one type that multiply the same activations, in one
// launch: blocks [0, block_end[0]) take part 0, then part 1, ... (a decode step's q, k, v or
// gate, up: one launch instead of several, so one ramp-up and one tail).
struct Parts {
  const uint8_t* w[kMaxMatvecParts];
  size_t row_bytes[kMaxMatvecParts];
  int64_t n_rows[kMaxMatvecParts];
  float* y[kMaxMatvecParts];
  int64_t y_stride[kMaxMatvecParts];
  unsigned block_end[kMaxMatvecParts];
};

// Unit u of each row (already unpacked) times the quantized activations of every token.
template <uint32_t kType, int kRows, int kTokens>
__device__ __forceinline__ void accumulate_unit(const Unit (&un)[kRows], const int8_t* __restrict__ xq,
                                                const float2* __restrict__ xds, int64_t K, int64_t units, int64_t u,
                                                int n_tokens, float (&acc)[kRows][kTokens]) {
#pragma unroll
  for (int t = 0; t < kTokens; ++t) {
    if (t < n_tokens) {
      const int4* xp = reinterpret_cast<const int4*>(xq + t * K + u * 32);
      const int4 xa = __ldg(xp), xb = __ldg(xp + 1);
      const int xv[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
      const float2 ds = __ldg(xds + t * units + u);
      int sum0 = 0, sum1 = 0;
      if constexpr (kNeedsHalfSums<kType>) {
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          sum0 = __dp4a(0x01010101, xv[k], sum0);
          sum1 = __dp4a(0x01010101, xv[4 + k], sum1);
        }
      }
#pragma unroll
      for (int i = 0; i < kRows; ++i) {
        int dot0 = 0, dot1 = 0;
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          dot0 = __dp4a(un[i].w[k], xv[k], dot0);
          dot1 = __dp4a(un[i].w[4 + k], xv[4 + k], dot1);
        }
        float inner = un[i].a0 * static_cast<float>(dot0) + un[i].a1 * static_cast<float>(dot1);
        if constexpr (kNeedsHalfSums<kType>) {
          inner += un[i].c0 * static_cast<float>(sum0) + un[i].c1 * static_cast<float>(sum1);
        }
        acc[i][t] += ds.x * inner + un[i].m * ds.y;
      }
    }
  }
}

// Sums each row's per-lane results over the block and writes them (rows past n_rows are not).
template <int kRows, int kTokens>
__device__ __forceinline__ void store_rows(const float (&acc)[kRows][kTokens], int n_tokens, int64_t r0,
                                           int64_t n_rows, float* __restrict__ y, int64_t y_stride) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  __shared__ float partial[kWarpsPerBlock][kRows][kTokens];
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
#pragma unroll
    for (int t = 0; t < kTokens; ++t) {
      if (t < n_tokens) {
        float s = acc[i][t];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
        if (lane == 0) partial[warp][i][t] = s;
      }
    }
  }
  __syncthreads();
  if (warp != 0) return;
  for (int idx = lane; idx < kRows * n_tokens; idx += 32) {
    const int i = idx / n_tokens, t = idx % n_tokens;
    float s = 0.f;
#pragma unroll
    for (int v = 0; v < kWarpsPerBlock; ++v) s += partial[v][i][t];
    if (r0 + i < n_rows) y[t * y_stride + r0 + i] = s;
  }
}

// The part of a multi-matrix launch that block b works on.
struct PartOfBlock {
  const uint8_t* w;
  size_t row_bytes;
  int64_t n_rows;
  float* y;
  int64_t y_stride;
  unsigned first_block;
};

__device__ __forceinline__ PartOfBlock part_of_block(const Parts& parts, unsigned b) {
  // Selects rather than an indexed parameter array, which would go through local memory.
  static_assert(kMaxMatvecParts == 3);
  const int part = b < parts.block_end[0] ? 0 : b < parts.block_end[1] ? 1 : 2;
  PartOfBlock p;
  p.w = part == 0 ? parts.w[0] : part == 1 ? parts.w[1] : parts.w[2];
  p.row_bytes = part == 0 ? parts.row_bytes[0] : part == 1 ? parts.row_bytes[1] : parts.row_bytes[2];
  p.n_rows = part == 0 ? parts.n_rows[0] : part == 1 ? parts.n_rows[1] : parts.n_rows[2];
  p.y = part == 0 ? parts.y[0] : part == 1 ? parts.y[1] : parts.y[2];
  p.y_stride = part == 0 ? parts.y_stride[0] : part == 1 ? parts.y_stride[1] : parts.y_stride[2];
  p.first_block = part == 0 ? 0u : part == 1 ? parts.block_end[0] : parts.block_end[1];
  return p;
}

// Units per block of the format and the block's bytes: a chunk of kChunkUnits units of a row
// is a whole number of blocks (kChunkUnits is a multiple of 8).
template <uint32_t kType>
struct BlockShape;
template <> struct BlockShape<kQ4_0> { static constexpr int kUnits = 1, kBytes = 18; };
template <> struct BlockShape<kQ4_1> { static constexpr int kUnits = 1, kBytes = 20; };
template <> struct BlockShape<kQ5_0> { static constexpr int kUnits = 1, kBytes = 22; };
template <> struct BlockShape<kQ5_1> { static constexpr int kUnits = 1, kBytes = 24; };
template <> struct BlockShape<kQ8_0> { static constexpr int kUnits = 1, kBytes = 34; };
template <> struct BlockShape<kIQ4_NL> { static constexpr int kUnits = 1, kBytes = 18; };
template <> struct BlockShape<kQ2_K> { static constexpr int kUnits = 8, kBytes = 84; };
template <> struct BlockShape<kQ3_K> { static constexpr int kUnits = 8, kBytes = 110; };
template <> struct BlockShape<kQ4_K> { static constexpr int kUnits = 8, kBytes = 144; };
template <> struct BlockShape<kQ5_K> { static constexpr int kUnits = 8, kBytes = 176; };
template <> struct BlockShape<kQ6_K> { static constexpr int kUnits = 8, kBytes = 210; };
template <> struct BlockShape<kIQ4_XS> { static constexpr int kUnits = 8, kBytes = 136; };

constexpr int kChunkUnits = kWarpsPerBlock * 32;

__device__ __forceinline__ void copy16_async(void* shared_dst, const void* global_src) {
  const auto dst = static_cast<unsigned>(__cvta_generic_to_shared(shared_dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(global_src) : "memory");
}
__device__ __forceinline__ void wait_async_copies() { asm volatile("cp.async.wait_all;" ::: "memory"); }

// A block owns kRows rows and walks them in chunks of kChunkUnits 32-value units: it copies
// the chunk of each row into shared memory with 16-byte asynchronous copies (a chunk's bytes
// are contiguous, so whole cache lines per warp and few load instructions), then lane l of
// warp w unpacks unit 32 w + l of the chunk from there and multiplies it. Reading the units
// straight from global memory (18 to 34 bytes each, at odd strides, with 2- and 4-byte loads)
// was no faster on an H100 and is gone. A chunk starts anywhere on a 2-byte boundary: the copy
// starts at the 16-byte boundary below (the weight's allocation starts on one, so that is
// inside it) and keeps the address modulo 16, so the unpackers' alignment assumptions hold in
// shared memory too; the last partial 16 bytes are copied with 2-byte loads, so nothing past
// the row's end is read. kTokens is 1 (a decode step: few registers) or kMaxDecodeTokens.
template <uint32_t kType, int kRows, int kTokens>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    matvec_q8_kernel(const Parts parts, int64_t K, const int8_t* __restrict__ xq, const float2* __restrict__ xds,
                     int n_tokens) {
  using Shape = BlockShape<kType>;
  constexpr int kChunkBytes = kChunkUnits / Shape::kUnits * Shape::kBytes;
  constexpr int kStageWords = (kChunkBytes + 32) / 16;
  __shared__ uint4 stage[kRows][kStageWords];
  const int tid = threadIdx.x;
  const PartOfBlock p = part_of_block(parts, blockIdx.x);
  const int64_t r0 = static_cast<int64_t>(blockIdx.x - p.first_block) * kRows;
  if (kTokens == 1) n_tokens = 1;
  float acc[kRows][kTokens];
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
#pragma unroll
    for (int t = 0; t < kTokens; ++t) acc[i][t] = 0.f;
  }
  const int64_t units = K / 32;
  allow_dependents_early();
  uint32_t head[kRows];  // offset of the chunk's first byte in its stage row
  for (int64_t c0 = 0; c0 < units; c0 += kChunkUnits) {
    const int64_t chunk_units = units - c0 < kChunkUnits ? units - c0 : kChunkUnits;
    const size_t offset = static_cast<size_t>(c0 / Shape::kUnits) * Shape::kBytes;
    const size_t bytes = static_cast<size_t>(chunk_units / Shape::kUnits) * Shape::kBytes;
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      const int64_t r = r0 + i < p.n_rows ? r0 + i : p.n_rows - 1;
      const uint8_t* start = p.w + static_cast<size_t>(r) * p.row_bytes + offset;
      const auto* aligned = reinterpret_cast<const uint4*>(reinterpret_cast<uintptr_t>(start) & ~uintptr_t{15});
      head[i] = static_cast<uint32_t>(start - reinterpret_cast<const uint8_t*>(aligned));
      const uint32_t span = head[i] + static_cast<uint32_t>(bytes);  // bytes from the aligned start
      const uint32_t whole = span / 16;
      for (uint32_t j = tid; j < whole; j += kWarpsPerBlock * 32) copy16_async(&stage[i][j], aligned + j);
      // The last span % 16 bytes (an even count) with 2-byte loads.
      const uint32_t tail_halves = (span % 16) / 2;
      if (static_cast<uint32_t>(tid) < tail_halves) {
        const auto* src = reinterpret_cast<const uint16_t*>(aligned + whole) + tid;
        reinterpret_cast<uint16_t*>(&stage[i][whole])[tid] = *src;
      }
    }
    // The weights are in flight; now the activations the previous kernel writes may be read.
    if (c0 == 0) wait_for_predecessor();
    wait_async_copies();
    __syncthreads();
    const int64_t u = c0 + tid;
    if (u < units) {
      Unit un[kRows];
#pragma unroll
      for (int i = 0; i < kRows; ++i) {
        unpack<kType>(reinterpret_cast<const uint8_t*>(&stage[i][0]) + head[i], tid, un[i]);
      }
      accumulate_unit<kType, kRows, kTokens>(un, xq, xds, K, units, u, n_tokens, acc);
    }
    __syncthreads();  // the stage is refilled by the next chunk
  }
  store_rows<kRows, kTokens>(acc, n_tokens, r0, p.n_rows, p.y, p.y_stride);
}

template <uint32_t kType>
cudaError_t launch(const MatvecPart* in, int n_parts, int64_t K, const int8_t* xq, const float2* xds, int n_tokens,
                   cudaStream_t stream) {
  int64_t total_rows = 0;
  for (int p = 0; p < n_parts; ++p) {
    total_rows += in[p].n_rows;
    // The kernel rounds a chunk's start down to 16 bytes, which stays inside the weight only
    // when the weight starts on such a boundary (load_weight's cudaMalloc'd ones always do).
    if (reinterpret_cast<uintptr_t>(in[p].w) % 16 != 0) return cudaErrorMisalignedAddress;
  }
  const auto go = [&](auto rows_c, auto tokens_c) {
    constexpr int kR = decltype(rows_c)::value, kT = decltype(tokens_c)::value;
    Parts parts{};
    unsigned blocks = 0;
    for (int p = 0; p < kMaxMatvecParts; ++p) {
      const MatvecPart& m = in[p < n_parts ? p : n_parts - 1];
      parts.w[p] = static_cast<const uint8_t*>(m.w);
      parts.row_bytes[p] = m.row_bytes;
      parts.n_rows[p] = m.n_rows;
      parts.y[p] = m.y;
      parts.y_stride[p] = m.y_stride;
      if (p < n_parts) blocks += static_cast<unsigned>((m.n_rows + kR - 1) / kR);
      parts.block_end[p] = blocks;
    }
    const dim3 grid(blocks), block(kWarpsPerBlock * 32);
    return launch_dependent(matvec_q8_kernel<kType, kR, kT>, grid, block, 0, stream, parts, K, xq, xds, n_tokens);
  };
  using One = std::integral_constant<int, 1>;
  using All = std::integral_constant<int, kMaxDecodeTokens>;
  // More rows per block share the activation loads; fewer keep small matrices spread out.
  cudaError_t e;
  if (total_rows >= 8192) {
    e = n_tokens == 1 ? go(std::integral_constant<int, 4>{}, One{}) : go(std::integral_constant<int, 4>{}, All{});
  } else if (total_rows >= 2048) {
    e = n_tokens == 1 ? go(std::integral_constant<int, 2>{}, One{}) : go(std::integral_constant<int, 2>{}, All{});
  } else {
    e = n_tokens == 1 ? go(std::integral_constant<int, 1>{}, One{}) : go(std::integral_constant<int, 1>{}, All{});
  }
  return e != cudaSuccess ? e : cudaGetLastError();
}

}  // namespace

bool matvec_q8_supported(uint32_t type) {
  switch (type) {
    case kQ4_0: case kQ4_1: case kQ5_0: case kQ5_1: case kQ8_0: case kIQ4_NL:
    case kQ2_K: case kQ3_K: case kQ4_K: case kQ5_K: case kQ6_K: case kIQ4_XS: return true;
    default: return false;
  }
}

size_t matvec_q8_scratch_bytes(int64_t n_tokens, int64_t K) {
  const auto units = static_cast<size_t>(n_tokens * (K / 32));
  return units * 32 + units * sizeof(float2) + 16;
}

cudaError_t launch_quantize_activations(const float* x, int64_t n_tokens, int64_t K, void* scratch,
                                        cudaStream_t stream) {
  if (n_tokens < 1 || n_tokens > kMaxDecodeTokens || K % 32 != 0) return cudaErrorInvalidValue;
  const int64_t units = n_tokens * (K / 32);
  int8_t* xq = nullptr;
  float2* xds = nullptr;
  split_scratch(scratch, units, xq, xds);
  return launch_dependent(quantize_activations_kernel, static_cast<unsigned>((units * 32 + 255) / 256), 256, 0, stream,
                          x, units, xq, xds);
}

cudaError_t launch_matvec_q8(uint32_t type, const void* w, size_t row_bytes, int64_t n_rows, int64_t K,
                             int64_t n_tokens, float* y, int64_t y_stride, const void* scratch, cudaStream_t stream) {
  const MatvecPart part{w, row_bytes, n_rows, y, y_stride};
  return launch_matvec_q8_parts(type, &part, 1, K, n_tokens, scratch, stream);
}

cudaError_t launch_matvec_q8_parts(uint32_t type, const MatvecPart* parts, int n_parts, int64_t K, int64_t n_tokens,
                                   const void* scratch, cudaStream_t stream) {
  if (n_tokens < 1 || n_tokens > kMaxDecodeTokens || K % 32 != 0 || n_parts < 1 || n_parts > kMaxMatvecParts) {
    return cudaErrorInvalidValue;
  }
  int64_t total_rows = 0;
  for (int p = 0; p < n_parts; ++p) {
    if (parts[p].n_rows < 1) return cudaErrorInvalidValue;
    total_rows += parts[p].n_rows;
  }
  if (total_rows > 0x7FFFFFFF) return cudaErrorInvalidValue;
  const int64_t units = n_tokens * (K / 32);
  const auto* xq = static_cast<const int8_t*>(scratch);
  const auto* xds =
      reinterpret_cast<const float2*>(static_cast<const uint8_t*>(scratch) + ((units * 32 + 15) / 16) * 16);
  const int nt = static_cast<int>(n_tokens);
  switch (type) {
    case kQ4_0: return launch<kQ4_0>(parts, n_parts, K, xq, xds, nt, stream);
    case kQ4_1: return launch<kQ4_1>(parts, n_parts, K, xq, xds, nt, stream);
    case kQ5_0: return launch<kQ5_0>(parts, n_parts, K, xq, xds, nt, stream);
    case kQ5_1: return launch<kQ5_1>(parts, n_parts, K, xq, xds, nt, stream);
    case kQ8_0: return launch<kQ8_0>(parts, n_parts, K, xq, xds, nt, stream);
    case kIQ4_NL: return launch<kIQ4_NL>(parts, n_parts, K, xq, xds, nt, stream);
    case kQ2_K: return launch<kQ2_K>(parts, n_parts, K, xq, xds, nt, stream);
    case kQ3_K: return launch<kQ3_K>(parts, n_parts, K, xq, xds, nt, stream);
    case kQ4_K: return launch<kQ4_K>(parts, n_parts, K, xq, xds, nt, stream);
    case kQ5_K: return launch<kQ5_K>(parts, n_parts, K, xq, xds, nt, stream);
    case kQ6_K: return launch<kQ6_K>(parts, n_parts, K, xq, xds, nt, stream);
    case kIQ4_XS: return launch<kIQ4_XS>(parts, n_parts, K, xq, xds, nt, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace strata::backend::cuda
