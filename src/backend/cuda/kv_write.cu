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

__device__ __forceinline__ float signed_absmax(const float* x) {
  float amax = 0.f, max = 0.f;
  for (int j = 0; j < 32; ++j) {
    if (amax < fabsf(x[j])) {
      amax = fabsf(x[j]);
      max = x[j];
    }
  }
  return max;
}

__device__ __forceinline__ void min_max(const float* x, float& mn, float& mx) {
  mn = FLT_MAX;
  mx = -FLT_MAX;
  for (int j = 0; j < 32; ++j) {
    if (x[j] < mn) mn = x[j];
    if (x[j] > mx) mx = x[j];
  }
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

__device__ float iq4_best_scale(const float* xb) {
  float weight[32];
  for (int j = 0; j < 32; ++j) weight[j] = xb[j] * xb[j];
  float amax = 0.f, max = 0.f;
  for (int j = 0; j < 32; ++j) {
    const float ax = fabsf(xb[j]);
    if (ax > amax) {
      amax = ax;
      max = xb[j];
    }
  }
  if (amax < 1e-15f) return 0.f;
  const float v0 = static_cast<float>(iq4_level(0));
  float d = -max / v0;
  float id = 1.f / d;
  float sumqx = 0.f, sumq2 = 0.f;
  for (int j = 0; j < 32; ++j) {
    const float q = static_cast<float>(iq4_level(nearest_level(id * xb[j])));
    sumqx += weight[j] * q * xb[j];
    sumq2 += weight[j] * q * q;
  }
  d = sumq2 > 0.f ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  for (int itry = -7; itry <= 7; ++itry) {
    id = static_cast<float>(itry + iq4_level(0)) / max;
    sumqx = sumq2 = 0.f;
    for (int j = 0; j < 32; ++j) {
      const float q = static_cast<float>(iq4_level(nearest_level(id * xb[j])));
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

// One 32-element block of a quantized type.
__device__ void quantize_block(uint32_t type, const float* x, uint8_t* out) {
  switch (type) {
    case kQ4_0:
    case kQ5_0: {
      const bool five = type == kQ5_0;
      const float d = signed_absmax(x) / (five ? -16.f : -8.f);
      const float id = d != 0.f ? 1.f / d : 0.f;
      st_u16(out, half_bits(d));
      uint8_t* qs = out + (five ? 6 : 2);
      uint32_t qh = 0;
      for (int j = 0; j < 16; ++j) {
        const float bias = five ? 16.5f : 8.5f;
        const int top = five ? 31 : 15;
        const uint32_t lo = static_cast<uint8_t>(min(top, truncate_to_i8(x[j] * id + bias)));
        const uint32_t hi = static_cast<uint8_t>(min(top, truncate_to_i8(x[j + 16] * id + bias)));
        qs[j] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
        qh |= ((lo & 0x10u) >> 4) << j;
        qh |= ((hi & 0x10u) >> 4) << (j + 16);
      }
      if (five) {
        for (int k = 0; k < 4; ++k) out[2 + k] = static_cast<uint8_t>(qh >> (8 * k));
      }
      break;
    }
    case kQ4_1:
    case kQ5_1: {
      const bool five = type == kQ5_1;
      float mn, mx;
      min_max(x, mn, mx);
      const float d = (mx - mn) / (five ? 31.f : 15.f);
      const float id = d != 0.f ? 1.f / d : 0.f;
      st_u16(out, half_bits(d));
      st_u16(out + 2, half_bits(mn));
      uint8_t* qs = out + (five ? 8 : 4);
      uint32_t qh = 0;
      for (int j = 0; j < 16; ++j) {
        uint32_t lo, hi;
        if (five) {
          lo = truncate_to_u8((x[j] - mn) * id + 0.5f);
          hi = truncate_to_u8((x[j + 16] - mn) * id + 0.5f);
        } else {
          lo = static_cast<uint8_t>(min(15, truncate_to_i8((x[j] - mn) * id + 0.5f)));
          hi = static_cast<uint8_t>(min(15, truncate_to_i8((x[j + 16] - mn) * id + 0.5f)));
        }
        qs[j] = static_cast<uint8_t>((lo & 0x0F) | ((hi & 0x0F) << 4));
        qh |= ((lo & 0x10u) >> 4) << j;
        qh |= ((hi & 0x10u) >> 4) << (j + 16);
      }
      if (five) {
        for (int k = 0; k < 4; ++k) out[4 + k] = static_cast<uint8_t>(qh >> (8 * k));
      }
      break;
    }
    case kQ8_0: {
      float amax = 0.f;
      for (int j = 0; j < 32; ++j) {
        const float a = fabsf(x[j]);
        amax = amax > a ? amax : a;
      }
      const float d = amax / 127.f;
      const float id = d != 0.f ? 1.f / d : 0.f;
      st_u16(out, half_bits(d));
      for (int j = 0; j < 32; ++j) out[2 + j] = static_cast<uint8_t>(truncate_to_i8(roundf(x[j] * id)));
      break;
    }
    case kIQ4_NL: {
      const float scale = iq4_best_scale(x);
      st_u16(out, half_bits(scale));
      const float id = scale != 0.f ? 1.f / scale : 0.f;
      for (int j = 0; j < 16; ++j) {
        out[2 + j] = static_cast<uint8_t>(nearest_level(id * x[j]) | (nearest_level(id * x[j + 16]) << 4));
      }
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

// One thread per 32-element block of one row (quantized types) or per element (float types).
__device__ __forceinline__ void write_one(const KvWriteJob& j, int64_t idx) {
  uint8_t* dst = j.dst_ref != nullptr ? reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(*j.dst_ref))
                                      : static_cast<uint8_t*>(j.dst);
  if (j.type == kF32 || j.type == kF16 || j.type == kBF16) {
    if (idx >= j.n_rows * j.row_elems) return;
    const int64_t r = idx / j.row_elems;
    const int64_t i = idx % j.row_elems;
    const float v = j.src[r * j.src_stride + i];
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
  if (idx >= j.n_rows * blocks) return;
  const int64_t r = idx / blocks;
  const int64_t b = idx % blocks;
  float x[32];
  const float* s = j.src + r * j.src_stride + b * 32;
  for (int k = 0; k < 32; ++k) x[k] = s[k];
  quantize_block(j.type, x, dst + static_cast<size_t>(r) * j.dst_stride + static_cast<size_t>(b) * block_bytes(j.type));
}

// Blocks [0, blocks_a) write job a, the rest job b (K and V of a decode step in one launch).
// (Two calls rather than one on a selected job: selecting between kernel parameters would copy
// them to local memory in every thread.)
__global__ void write_kv_kernel(const KvWriteJob a, unsigned blocks_a, const KvWriteJob b) {
  start_after_predecessor();
  if (blockIdx.x < blocks_a) {
    write_one(a, blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x);
  } else {
    write_one(b, (blockIdx.x - blocks_a) * static_cast<int64_t>(blockDim.x) + threadIdx.x);
  }
}

// Threads (and so blocks) a job needs; 0 for none, -1 when the grid would be too large.
int64_t job_blocks(const KvWriteJob& j) {
  const bool floats = j.type == kF32 || j.type == kF16 || j.type == kBF16;
  const int64_t work = floats ? j.n_rows * j.row_elems : j.n_rows * (j.row_elems / 32);
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

}  // namespace strata::backend::cuda
