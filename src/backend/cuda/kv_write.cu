// KV cache writes: f32 rows to every KV type with the bytes of quant::quantize_row (ggml's
// reference quantizers, iq4_nl's scale search included). This file is compiled with
// --fmad=false: the reference rounds each multiply and add separately, and so must we.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>
#include <climits>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_formats.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/rope_rotation.cuh"

namespace strata::backend::cuda {
namespace {

constexpr int kThreads = 128;

__device__ __forceinline__ void st_u16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
// float -> binary16, round to nearest even (core/half.h's fp32_to_fp16) in 32-bit integer
// arithmetic: byte stores of the hardware conversion's 16-bit register lost the low byte
// (nvcc 13.0, sm_90 lost it in the KV writer).
__device__ __forceinline__ uint32_t half_bits(float f) {
  const uint32_t x = __float_as_uint(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return sign | 0x7E00u;  // quiet NaN, as quantize_row writes it
  if (abs >= 0x477FF000u) return sign | 0x7C00u;
  if (abs < 0x38800000u) {
    if (abs < 0x33000000u) return sign;
    const uint32_t e = abs >> 23;
    const uint32_t m = (abs & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126 - e;
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return sign | q;
  }
  uint32_t h = (abs - 0x38000000u) >> 13;
  const uint32_t rem = abs & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return sign | h;
}

// float -> bf16 round to nearest even, NaN kept quiet (core/half.h's fp32_to_bf16).
__device__ __forceinline__ uint32_t bf16_bits(float f) {
  const uint32_t x = __float_as_uint(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return ((x >> 16) | 64) & 0xFFFF;
  return ((x + (0x7FFFu + ((x >> 16) & 1u))) >> 16) & 0xFFFF;
}

// x86's cvttss2si: out of range or NaN gives INT_MIN; then the narrowing cast of ggml.
__device__ __forceinline__ int truncate_to_int(float v) {
  if (!(v > -2147483648.f && v < 2147483648.f)) return INT_MIN;
  return static_cast<int>(v);
}
__device__ __forceinline__ int truncate_to_i8(float v) { return static_cast<int8_t>(truncate_to_int(v)); }
__device__ __forceinline__ uint32_t truncate_to_u8(float v) { return static_cast<uint8_t>(truncate_to_int(v)); }

// ---- one 32-element block per warp ----------------------------------------------------------
// A step's K and V are a few blocks per head; a thread per block would run each block's
// 32-element scans one after another. Here lane j holds element j, the scans are warp
// reductions and each lane quantizes its own element. The reductions give what the
// reference's sequential scans give: the first element that wins (ties to the lowest index;
// the scans replace only on a strict comparison, which also skips NaN), so the bytes match.

// The lane's candidate key (with its index) against the rest of the warp: the key that
// `better` prefers, ties to the lowest index. Keys are never NaN.
template <class Better>
__device__ __forceinline__ float warp_first_best(float key, int& index, Better better) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(0xFFFFFFFFu, key, o);
    const int other_index = __shfl_xor_sync(0xFFFFFFFFu, index, o);
    if (better(other, key) || (!better(key, other) && other_index < index)) {
      key = other;
      index = other_index;
    }
  }
  return key;
}
__device__ __forceinline__ bool greater(float a, float b) { return a > b; }
__device__ __forceinline__ bool less(float a, float b) { return a < b; }

// The element of largest magnitude, signed (the first one; 0 when all are 0 or NaN).
__device__ __forceinline__ float warp_signed_absmax(float x, int lane) {
  const float ax = fabsf(x);
  int index = lane;
  const float key = warp_first_best(ax > 0.f ? ax : -1.f, index, greater);
  const float value = __shfl_sync(0xFFFFFFFFu, x, index);
  return key > 0.f ? value : 0.f;
}

// The scan's `amax = amax > a ? amax : a` over |x|: a NaN becomes amax and the next element
// replaces it, so the result is the largest |x| after the last NaN (NaN when x[31] is one).
__device__ __forceinline__ float warp_q8_amax(float x, int lane) {
  const uint32_t nans = __ballot_sync(0xFFFFFFFFu, x != x);
  const int last_nan = nans != 0 ? 31 - __clz(nans) : -1;
  float a = lane > last_nan ? fabsf(x) : 0.f;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) a = fmaxf(a, __shfl_xor_sync(0xFFFFFFFFu, a, o));
  return last_nan == 31 ? __int_as_float(0x7FC00000) : a;
}

// Bytes j (elements j and j + 16) of a nibble-packed block, written by lanes 0..15.
__device__ __forceinline__ void store_nibbles(uint8_t* qs, uint32_t q, int lane) {
  const uint32_t hi = __shfl_down_sync(0xFFFFFFFFu, q, 16);
  if (lane < 16) qs[lane] = static_cast<uint8_t>((q & 0x0F) | ((hi & 0x0F) << 4));
}
// Bit j of a 5-bit type's high-bit word is element j's bit 4.
__device__ __forceinline__ void store_high_bits(uint8_t* out, uint32_t q, int lane) {
  const uint32_t qh = __ballot_sync(0xFFFFFFFFu, (q & 0x10u) != 0);
  if (lane < 4) out[lane] = static_cast<uint8_t>(qh >> (8 * lane));
}

__device__ __forceinline__ int nearest_level(float x) {
  const float x2 = x + x;
  int idx = 0;
  for (int step = 8; step > 0; step >>= 1) {
    const int j = idx + step;
    idx = (x2 >= static_cast<float>(iq4_level(j - 1) + iq4_level(j))) ? j : idx;
  }
  return idx;
}

// iq4_nl's scale: the reference tries the scale from the largest element and 15 others and
// keeps the best fit. Lane 0 scores the first, lanes 1..15 one try each (each sum in the
// reference's order), and every lane then walks the tries in the reference's order.
__device__ float warp_iq4_scale(float x, int lane) {
  const float max = warp_signed_absmax(x, lane);
  if (fabsf(max) < 1e-15f) return 0.f;  // the reference's amax (|max|) below its threshold
  const float v0 = static_cast<float>(iq4_level(0));
  const float d0 = -max / v0;
  const float id = lane == 0 ? 1.f / d0 : static_cast<float>(lane - 8 + iq4_level(0)) / max;
  float sumqx = 0.f, sumq2 = 0.f;
  for (int j = 0; j < 32; ++j) {
    const float xj = __shfl_sync(0xFFFFFFFFu, x, j);
    const float w = xj * xj;
    const float q = static_cast<float>(iq4_level(nearest_level(id * xj)));
    sumqx += w * q * xj;
    sumq2 += w * q * q;
  }
  float d = 0.f, best = 0.f;
  for (int t = 0; t < 16; ++t) {
    const float sx = __shfl_sync(0xFFFFFFFFu, sumqx, t);
    const float s2 = __shfl_sync(0xFFFFFFFFu, sumq2, t);
    if (t == 0) {
      d = s2 > 0.f ? sx / s2 : 0.f;
      best = d * sx;
    } else if (s2 > 0.f && sx * sx > best * s2) {
      d = sx / s2;
      best = d * sx;
    }
  }
  return d;
}

// One 32-element block of a quantized type; x is this lane's element.
__device__ void quantize_block_warp(uint32_t type, float x, int lane, uint8_t* out) {
  switch (type) {
    case kQ4_0:
    case kQ5_0: {
      const bool five = type == kQ5_0;
      const float d = warp_signed_absmax(x, lane) / (five ? -16.f : -8.f);
      const float id = d != 0.f ? 1.f / d : 0.f;
      if (lane == 0) st_u16(out, half_bits(d));
      const uint32_t q = static_cast<uint8_t>(min(five ? 31 : 15, truncate_to_i8(x * id + (five ? 16.5f : 8.5f))));
      store_nibbles(out + (five ? 6 : 2), q, lane);
      if (five) store_high_bits(out + 2, q, lane);
      break;
    }
    case kQ4_1:
    case kQ5_1: {
      const bool five = type == kQ5_1;
      int at_min = lane, at_max = lane;
      // The scans start from FLT_MAX and -FLT_MAX and skip NaN: keys clamped to those.
      const float mn = warp_first_best(x < FLT_MAX ? x : FLT_MAX, at_min, less);
      const float mx = warp_first_best(x > -FLT_MAX ? x : -FLT_MAX, at_max, greater);
      const float d = (mx - mn) / (five ? 31.f : 15.f);
      const float id = d != 0.f ? 1.f / d : 0.f;
      if (lane == 0) {
        st_u16(out, half_bits(d));
        st_u16(out + 2, half_bits(mn));
      }
      const uint32_t q = five ? truncate_to_u8((x - mn) * id + 0.5f)
                              : static_cast<uint8_t>(min(15, truncate_to_i8((x - mn) * id + 0.5f)));
      store_nibbles(out + (five ? 8 : 4), q, lane);
      if (five) store_high_bits(out + 4, q, lane);
      break;
    }
    case kQ8_0: {
      const float d = warp_q8_amax(x, lane) / 127.f;
      const float id = d != 0.f ? 1.f / d : 0.f;
      if (lane == 0) st_u16(out, half_bits(d));
      out[2 + lane] = static_cast<uint8_t>(truncate_to_i8(roundf(x * id)));
      break;
    }
    case kIQ4_NL: {
      const float scale = warp_iq4_scale(x, lane);
      if (lane == 0) st_u16(out, half_bits(scale));
      const float id = scale != 0.f ? 1.f / scale : 0.f;
      store_nibbles(out + 2, static_cast<uint32_t>(nearest_level(id * x)), lane);
      break;
    }
    default: break;
  }
}

__device__ __forceinline__ int block_bytes(uint32_t type) {
  switch (type) {
    case kQ4_0: return 18;
    case kQ4_1: return 20;
    case kQ5_0: return 22;
    case kQ5_1: return 24;
    case kQ8_0: return 34;
    case kIQ4_NL: return 18;
    default: return 0;
  }
}

__host__ __device__ __forceinline__ bool is_float_type(uint32_t type) { return type == kF32 || type == kF16 || type == kBF16; }

// Element el of row r of a job's source, after RoPE when kRoped (rows are tokens).
template <bool kRoped>
__device__ __forceinline__ float source_value(const KvWriteJob& j, const KvRope& rope, int64_t r, int64_t el) {
  const float* row = j.src + r * j.src_stride;
  if constexpr (!kRoped) {
    return row[el];
  } else {
    const int64_t e = el % rope.head_dim;
    return roped_element(row + (el - e), e, rope.half, rope.neox, rope.table + r * rope.half);
  }
}

// Float types: one thread per element. Quantized types: one warp per 32-element block (idx
// counts threads; a warp's 32 threads share one block, so a warp is in or out as a whole).
template <bool kRoped>
__device__ __forceinline__ void write_one(const KvWriteJob& j, const KvRope& rope, int64_t idx) {
  uint8_t* dst = j.dst_ref != nullptr ? reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(*j.dst_ref))
                                      : static_cast<uint8_t*>(j.dst);
  if (is_float_type(j.type)) {
    if (idx >= j.n_rows * j.row_elems) return;
    const int64_t r = idx / j.row_elems;
    const int64_t i = idx % j.row_elems;
    const float v = source_value<kRoped>(j, rope, r, i);
    uint8_t* row = dst + static_cast<size_t>(r) * j.dst_stride;
    if (j.type == kF32) {
      const uint32_t bits = __float_as_uint(v);
      for (int k = 0; k < 4; ++k) row[4 * i + k] = static_cast<uint8_t>(bits >> (8 * k));
    } else {
      st_u16(row + 2 * i, j.type == kF16 ? half_bits(v) : bf16_bits(v));
    }
    return;
  }
  const int64_t blocks = j.row_elems / 32;
  const int64_t block = idx / 32;
  const int lane = static_cast<int>(idx % 32);
  if (block >= j.n_rows * blocks) return;
  const int64_t r = block / blocks;
  const int64_t b = block % blocks;
  const float x = source_value<kRoped>(j, rope, r, b * 32 + lane);
  quantize_block_warp(j.type, x, lane,
                      dst + static_cast<size_t>(r) * j.dst_stride + static_cast<size_t>(b) * block_bytes(j.type));
}

// Blocks [0, blocks_a) write job a, the rest job b (K and V of a decode step in one launch).
// (Two calls rather than one on a selected job: selecting between kernel parameters would copy
// them to local memory in every thread.)
__global__ void write_kv_kernel(const KvWriteJob a, unsigned blocks_a, const KvWriteJob b) {
  start_after_predecessor();
  const KvRope none{};
  if (blockIdx.x < blocks_a) {
    write_one<false>(a, none, blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x);
  } else {
    write_one<false>(b, none, (blockIdx.x - blocks_a) * static_cast<int64_t>(blockDim.x) + threadIdx.x);
  }
}

// Blocks [0, blocks_q) rotate q in place (as the rope kernel does), the next blocks_k write K
// rotated on the fly, the rest write V.
__global__ void rope_write_kv_kernel(float* q, int64_t n_head_q, int64_t q_stride, const KvRope rope, unsigned blocks_q,
                                     const KvWriteJob k, unsigned blocks_k, const KvWriteJob v) {
  start_after_predecessor();
  const KvRope none{};
  const int64_t tid = threadIdx.x;
  if (blockIdx.x < blocks_q) {
    const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + tid;
    if (idx >= k.n_rows * n_head_q * rope.half) return;
    const int64_t i = idx % rope.half;
    const int64_t h = (idx / rope.half) % n_head_q;
    const int64_t t = idx / (rope.half * n_head_q);
    rope_rotate_pair(q + t * q_stride + h * rope.head_dim, i, rope.half, rope.neox, rope.table[t * rope.half + i]);
  } else if (blockIdx.x < blocks_q + blocks_k) {
    write_one<true>(k, rope, (blockIdx.x - blocks_q) * static_cast<int64_t>(blockDim.x) + tid);
  } else {
    write_one<false>(v, none, (blockIdx.x - blocks_q - blocks_k) * static_cast<int64_t>(blockDim.x) + tid);
  }
}

// Threads (and so blocks) a job needs; 0 for none, -1 when the grid would be too large.
int64_t job_blocks(const KvWriteJob& j) {
  const int64_t work = is_float_type(j.type) ? j.n_rows * j.row_elems : j.n_rows * (j.row_elems / 32) * 32;
  if (work <= 0) return 0;
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return blocks > 0x3FFFFFFF ? -1 : blocks;
}

}  // namespace

cudaError_t launch_write_kv(uint32_t type, const float* src, int64_t n_rows, int64_t row_elems, int64_t src_stride,
                            void* dst, const uint64_t* dst_ref, size_t dst_stride, cudaStream_t stream) {
  const KvWriteJob job{type, src, n_rows, row_elems, src_stride, dst, dst_ref, dst_stride};
  return launch_write_kv_pair(job, KvWriteJob{}, stream);
}

cudaError_t launch_write_kv_pair(const KvWriteJob& a, const KvWriteJob& b, cudaStream_t stream) {
  const int64_t blocks_a = job_blocks(a), blocks_b = b.src != nullptr ? job_blocks(b) : 0;
  if (blocks_a < 0 || blocks_b < 0) return cudaErrorInvalidValue;
  if (blocks_a + blocks_b == 0) return cudaSuccess;
  return launch_dependent(write_kv_kernel, static_cast<unsigned>(blocks_a + blocks_b), kThreads, 0, stream, a,
                          static_cast<unsigned>(blocks_a), b);
}

cudaError_t launch_rope_write_kv(float* q, int64_t n_head_q, int64_t q_stride, const KvRope& rope, const KvWriteJob& k,
                                 const KvWriteJob& v, cudaStream_t stream) {
  if (rope.half <= 0 || rope.head_dim < 2 * rope.half || k.row_elems % rope.head_dim != 0) return cudaErrorInvalidValue;
  const int64_t q_threads = k.n_rows * n_head_q * rope.half;
  const int64_t blocks_q = (q_threads + kThreads - 1) / kThreads;
  const int64_t blocks_k = job_blocks(k), blocks_v = job_blocks(v);
  if (blocks_k < 0 || blocks_v < 0 || blocks_q + blocks_k + blocks_v > 0x3FFFFFFF) return cudaErrorInvalidValue;
  if (blocks_q + blocks_k + blocks_v == 0) return cudaSuccess;
  return launch_dependent(rope_write_kv_kernel, static_cast<unsigned>(blocks_q + blocks_k + blocks_v), kThreads, 0,
                          stream, q, n_head_q, q_stride, rope, static_cast<unsigned>(blocks_q), k,
                          static_cast<unsigned>(blocks_k), v);
}

}  // namespace strata::backend::cuda
