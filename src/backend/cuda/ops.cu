// Row and element-wise kernels: embedding lookup, RMSNorm, bias, SwiGLU, add, RoPE, and the
// f16 conversions of the cuBLAS matmul path.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/block_sum.cuh"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_formats.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/rope_rotation.cuh"

namespace strata::backend::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n, int per_block = kThreads) {
  const int64_t b = (n + per_block - 1) / per_block;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 0x7FFFFFFF ? 0x7FFFFFFF : b));
}

// One thread per 8 elements of each output row; rows come from the table by id.
__global__ void get_rows_kernel(uint32_t type, const uint8_t* __restrict__ table, size_t row_bytes, int64_t n_cols,
                                const int32_t* __restrict__ ids, int64_t n_ids, float* __restrict__ out) {
  start_after_predecessor();
  const int64_t chunks = n_cols / 8;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n_ids * chunks;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / chunks;
    const int64_t e = (i % chunks) * 8;
    float v[8];
    decode8_any(type, table + static_cast<size_t>(ids[t]) * row_bytes, e, v);
    float* o = out + t * n_cols + e;
#pragma unroll
    for (int k = 0; k < 8; ++k) o[k] = v[k];
  }
}

// One block per row. The sum of squares in double and the scale in float, as the CPU does.
__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ w, float* __restrict__ y,
                                int64_t n, float eps) {
  start_after_predecessor();
  const float* xr = x + blockIdx.x * n;
  float* yr = y + blockIdx.x * n;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += static_cast<double>(xr[i]) * xr[i];
  const float mean = static_cast<float>(block_sum_d(sum) / static_cast<double>(n));
  const float scale = 1.0f / sqrtf(__fadd_rn(mean, eps));
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = __fmul_rn(xr[i], scale);
    yr[i] = w != nullptr ? __fmul_rn(v, w[i]) : v;
  }
}

__global__ void add_bias_kernel(float* x, const float* __restrict__ bias, int64_t n_tokens, int64_t n,
                                int64_t x_stride) {
  start_after_predecessor();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n_tokens * n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / n;
    const int64_t c = i % n;
    x[t * x_stride + c] += bias[c];
  }
}

__global__ void swiglu_kernel(const float* gate, const float* up, float* out, int64_t count) {
  start_after_predecessor();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float g = gate[i];
    const float silu = g < -88.0f ? 0.0f : g / (1.0f + expf(-g));
    out[i] = silu * up[i];
  }
}

__global__ void add_kernel(const float* a, const float* b, float* out, int64_t count) {
  start_after_predecessor();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = a[i] + b[i];
  }
}

// theta_i = pos * theta_scale^i, multiplied up one factor at a time as the CPU table does.
__global__ void rope_table_kernel(const int32_t* __restrict__ pos, int64_t n_tokens, int64_t half, float theta_scale,
                                  float freq_scale, const float* __restrict__ freq_factors, float2* table) {
  start_after_predecessor();
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (idx >= n_tokens * half) return;
  const int64_t t = idx / half;
  const int64_t i = idx % half;
  float theta = static_cast<float>(pos[t]);
  for (int64_t k = 0; k < i; ++k) theta = __fmul_rn(theta, theta_scale);
  const float ff = freq_factors != nullptr ? freq_factors[i] : 1.0f;
  const float angle = __fmul_rn(freq_scale, __fdiv_rn(theta, ff));
  float s, c;
  sincosf(angle, &s, &c);
  table[idx] = make_float2(c, s);
}

// One thread per rotated pair of one head of one token; heads [0, n_head_x) are x's, the rest
// (if any) y's: a decode step rotates q and k in one launch.
__global__ void rope_kernel(float* x, int64_t n_head_x, int64_t x_stride, float* y, int64_t n_head_y,
                            int64_t y_stride, int64_t n_tokens, int64_t head_dim, int64_t half, bool neox,
                            const float2* __restrict__ table) {
  start_after_predecessor();
  const int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t n_head = n_head_x + n_head_y;
  if (idx >= n_tokens * n_head * half) return;
  const int64_t i = idx % half;
  const int64_t h = (idx / half) % n_head;
  const int64_t t = idx / (half * n_head);
  float* head = h < n_head_x ? x + t * x_stride + h * head_dim : y + t * y_stride + (h - n_head_x) * head_dim;
  rope_rotate_pair(head, i, half, neox, table[t * half + i]);
}

__global__ void dequantize_f16_kernel(uint32_t type, const uint8_t* __restrict__ w, size_t row_bytes, int64_t n_rows,
                                      int64_t K, __half* __restrict__ out) {
  start_after_predecessor();
  const int64_t chunks = K / 8;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n_rows * chunks;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / chunks;
    const int64_t e = (i % chunks) * 8;
    float v[8];
    decode8_any(type, w + static_cast<size_t>(r) * row_bytes, e, v);
    __align__(16) __half h[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) h[k] = __float2half_rn(v[k]);
    *reinterpret_cast<uint4*>(out + r * K + e) = *reinterpret_cast<const uint4*>(h);
  }
}

__global__ void round_activations_kernel(const float* __restrict__ x, int64_t count, bool to_bf16, void* out) {
  start_after_predecessor();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (to_bf16) {
      static_cast<__nv_bfloat16*>(out)[i] = __float2bfloat16_rn(x[i]);
    } else {
      static_cast<__half*>(out)[i] = __float2half_rn(x[i]);
    }
  }
}

constexpr unsigned kMaxGrid = 65535u * 8;

unsigned grid_stride_blocks(int64_t n) {
  const unsigned b = blocks_for(n);
  return b > kMaxGrid ? kMaxGrid : b;
}

}  // namespace

cudaError_t launch_get_rows(uint32_t type, const void* table, size_t row_bytes, int64_t n_cols, const int32_t* ids,
                            int64_t n_ids, float* out, cudaStream_t stream) {
  return launch_dependent(get_rows_kernel, grid_stride_blocks(n_ids * (n_cols / 8)), kThreads, 0, stream, type,
                          static_cast<const uint8_t*>(table), row_bytes, n_cols, ids, n_ids, out);
}

cudaError_t launch_rms_norm(const float* x, const float* w, float* y, int64_t n_tokens, int64_t n, float eps,
                            cudaStream_t stream) {
  if (n_tokens > 0x7FFFFFFF) return cudaErrorInvalidValue;
  return launch_dependent(rms_norm_kernel, static_cast<unsigned>(n_tokens), 512, 0, stream, x, w, y, n, eps);
}

cudaError_t launch_add_bias(float* x, const float* bias, int64_t n_tokens, int64_t n, int64_t x_stride,
                            cudaStream_t stream) {
  return launch_dependent(add_bias_kernel, grid_stride_blocks(n_tokens * n), kThreads, 0, stream, x, bias, n_tokens,
                          n, x_stride);
}

cudaError_t launch_swiglu(const float* gate, const float* up, float* out, int64_t count, cudaStream_t stream) {
  return launch_dependent(swiglu_kernel, grid_stride_blocks(count), kThreads, 0, stream, gate, up, out, count);
}

cudaError_t launch_add(const float* a, const float* b, float* out, int64_t count, cudaStream_t stream) {
  return launch_dependent(add_kernel, grid_stride_blocks(count), kThreads, 0, stream, a, b, out, count);
}

cudaError_t launch_rope_table(const int32_t* pos, int64_t n_tokens, int64_t half, float theta_scale,
                              float freq_scale, const float* freq_factors, float2* table, cudaStream_t stream) {
  return launch_dependent(rope_table_kernel, blocks_for(n_tokens * half), kThreads, 0, stream, pos, n_tokens, half,
                          theta_scale, freq_scale, freq_factors, table);
}

cudaError_t launch_rope(float* x, int64_t n_tokens, int64_t n_head, int64_t head_dim, int64_t half, bool neox,
                        const float2* table, int64_t x_stride, cudaStream_t stream) {
  return launch_rope_pair(x, n_head, x_stride, nullptr, 0, 0, n_tokens, head_dim, half, neox, table, stream);
}

cudaError_t launch_rope_pair(float* x, int64_t n_head_x, int64_t x_stride, float* y, int64_t n_head_y,
                             int64_t y_stride, int64_t n_tokens, int64_t head_dim, int64_t half, bool neox,
                             const float2* table, cudaStream_t stream) {
  return launch_dependent(rope_kernel, blocks_for(n_tokens * (n_head_x + n_head_y) * half), kThreads, 0, stream, x,
                          n_head_x, x_stride, y, n_head_y, y_stride, n_tokens, head_dim, half, neox, table);
}

cudaError_t launch_dequantize_f16(uint32_t type, const void* w, size_t row_bytes, int64_t n_rows, int64_t K,
                                  void* out, cudaStream_t stream) {
  return launch_dependent(dequantize_f16_kernel, grid_stride_blocks(n_rows * (K / 8)), kThreads, 0, stream, type,
                          static_cast<const uint8_t*>(w), row_bytes, n_rows, K, static_cast<__half*>(out));
}

cudaError_t launch_round_activations(const float* x, int64_t count, bool to_bf16, void* out, cudaStream_t stream) {
  return launch_dependent(round_activations_kernel, grid_stride_blocks(count), kThreads, 0, stream, x, count, to_bf16,
                          out);
}

}  // namespace strata::backend::cuda
