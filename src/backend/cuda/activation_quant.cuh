// Activations quantized for the integer-dot-product matvecs (matvec_q8.cu): int8 per 32
// consecutive values with d = amax / 127 and s = d * (sum of the quants), one float2 (d, s)
// per unit. Kernels that produce a matvec's input can write this form as they go (fused.cu,
// attention.cu) instead of a separate quantization kernel; every one of them gives the bits
// of quantize_activations_kernel.
#pragma once

#include <cstdint>

namespace strata::backend::cuda {

// The 32 lanes of a warp hold one unit, lane i value i of it.
__device__ __forceinline__ void quantize_unit(float v, int64_t unit, int8_t* xq, float2* xds) {
  const int lane = threadIdx.x & 31;
  float amax = fabsf(v);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
  const float d = amax / 127.f;
  const int q = amax == 0.f ? 0 : __float2int_rn(v / d);
  int sum = q;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, o);
  xq[unit * 32 + lane] = static_cast<int8_t>(q);
  if (lane == 0) xds[unit] = make_float2(d, d * static_cast<float>(sum));
}

}  // namespace strata::backend::cuda
