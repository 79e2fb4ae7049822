// Sum over a block of one double per thread, in one fixed order: a butterfly within each warp,
// then the first warp sums the warps' results. rms_norm and its fused forms (fused.cu) form
// their sums of squares with it, which is why they give the same bits.
#pragma once

namespace strata::backend::cuda {

__device__ __forceinline__ double warp_sum_d(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  return v;
}

// blockDim.x a multiple of 32, at most 1024; every thread of the block calls it, once per kernel
// (the shared partial sums are not reset for a second call).
__device__ __forceinline__ double block_sum_d(double v) {
  __shared__ double partial[32];
  v = warp_sum_d(v);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    double s = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0;
    s = warp_sum_d(s);
    if (threadIdx.x == 0) partial[0] = s;
  }
  __syncthreads();
  return partial[0];
}

}  // namespace strata::backend::cuda
