// Matrix-vector products for decode (a few tokens) with f32, f16 and bf16 weights: each warp
// owns rows of W and streams them once, converting 8 weights per lane step (16-byte loads)
// and multiplying them with every token's unrounded activations. The block types take the
// integer path of matvec_q8.cu instead.
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_formats.cuh"
#include "backend/cuda/kernels.h"

namespace strata::backend::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

// Each warp owns kRows consecutive rows: one x load feeds kRows rows, and their independent
// weight loads keep more bytes in flight. Lane l takes 8-element chunks l, l + 32, ...
template <uint32_t kType, int kRows, bool kVecX>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    matvec_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t n_rows, int64_t K,
                  const float* __restrict__ x, int n_tokens, float* __restrict__ y, int64_t y_stride) {
  start_after_predecessor();
  const int lane = threadIdx.x & 31;
  const int64_t r0 = (static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5)) * kRows;
  if (r0 >= n_rows) return;
  const uint8_t* rows[kRows];
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
    // Rows past the end re-read the last row (their sums are dropped): no branch in the loop.
    const int64_t r = r0 + i < n_rows ? r0 + i : n_rows - 1;
    rows[i] = w + static_cast<size_t>(r) * row_bytes;
  }
  float acc[kRows][kMaxDecodeTokens];
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
#pragma unroll
    for (int t = 0; t < kMaxDecodeTokens; ++t) acc[i][t] = 0.f;
  }
  const int64_t chunks = K / 8;
#pragma unroll 2
  for (int64_t c = lane; c < chunks; c += 32) {
    float v[kRows][8];
#pragma unroll
    for (int i = 0; i < kRows; ++i) decode8<kType>(rows[i], c * 8, v[i]);
#pragma unroll
    for (int t = 0; t < kMaxDecodeTokens; ++t) {
      if (t < n_tokens) {
        const float* xt = x + t * K + c * 8;
        float xv[8];
        if constexpr (kVecX) {
          const float4 a = __ldg(reinterpret_cast<const float4*>(xt));
          const float4 b = __ldg(reinterpret_cast<const float4*>(xt) + 1);
          xv[0] = a.x, xv[1] = a.y, xv[2] = a.z, xv[3] = a.w, xv[4] = b.x, xv[5] = b.y, xv[6] = b.z, xv[7] = b.w;
        } else {
#pragma unroll
          for (int k = 0; k < 8; ++k) xv[k] = __ldg(xt + k);
        }
#pragma unroll
        for (int i = 0; i < kRows; ++i) {
#pragma unroll
          for (int k = 0; k < 8; ++k) acc[i][t] = fmaf(v[i][k], xv[k], acc[i][t]);
        }
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
#pragma unroll
    for (int t = 0; t < kMaxDecodeTokens; ++t) {
      if (t < n_tokens) {
        float s = acc[i][t];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
        if (lane == 0 && r0 + i < n_rows) y[t * y_stride + r0 + i] = s;
      }
    }
  }
}

template <uint32_t kType, int kRows>
cudaError_t launch_rows(const void* w, size_t row_bytes, int64_t n_rows, int64_t K, const float* x, int64_t n_tokens,
                        float* y, int64_t y_stride, cudaStream_t stream) {
  const int64_t per_block = int64_t{kWarpsPerBlock} * kRows;
  const auto blocks = static_cast<unsigned>((n_rows + per_block - 1) / per_block);
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto kernel = reinterpret_cast<uintptr_t>(x) % 16 == 0 ? matvec_kernel<kType, kRows, true>
                                                                : matvec_kernel<kType, kRows, false>;
  return launch_dependent(kernel, blocks, kWarpsPerBlock * 32, 0, stream, wb, row_bytes, n_rows, K, x,
                          static_cast<int>(n_tokens), y, y_stride);
}

// Four (two) rows per warp where there are rows enough to fill the GPU that way, else one.
template <uint32_t kType>
cudaError_t launch(const void* w, size_t row_bytes, int64_t n_rows, int64_t K, const float* x, int64_t n_tokens,
                   float* y, int64_t y_stride, cudaStream_t stream) {
  if (n_rows >= 8192) return launch_rows<kType, 4>(w, row_bytes, n_rows, K, x, n_tokens, y, y_stride, stream);
  if (n_rows >= 2048) return launch_rows<kType, 2>(w, row_bytes, n_rows, K, x, n_tokens, y, y_stride, stream);
  return launch_rows<kType, 1>(w, row_bytes, n_rows, K, x, n_tokens, y, y_stride, stream);
}

}  // namespace

cudaError_t launch_matvec(uint32_t type, const void* w, size_t row_bytes, int64_t n_rows, int64_t K, const float* x,
                          int64_t n_tokens, float* y, int64_t y_stride, cudaStream_t stream) {
  if (n_tokens < 1 || n_tokens > kMaxDecodeTokens || (n_rows + kWarpsPerBlock - 1) / kWarpsPerBlock > 0x7FFFFFFF) {
    return cudaErrorInvalidValue;
  }
  switch (type) {
    case kF32: return launch<kF32>(w, row_bytes, n_rows, K, x, n_tokens, y, y_stride, stream);
    case kF16: return launch<kF16>(w, row_bytes, n_rows, K, x, n_tokens, y, y_stride, stream);
    case kBF16: return launch<kBF16>(w, row_bytes, n_rows, K, x, n_tokens, y, y_stride, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace strata::backend::cuda
