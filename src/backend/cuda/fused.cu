// Fused kernels of a decode-step graph (see StepGraph's fuser in cuda_backend.cpp): an op
// followed by the int8 quantization of its output for the next matvec, computed in one pass.
// Each does exactly the float operations of the kernels it replaces (ops.cu's add, rms_norm,
// swiglu and matvec_q8.cu's quantize_activations), so results do not change with fusion.
#include "backend/cuda/activation_quant.cuh"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"

namespace strata::backend::cuda {
namespace {

constexpr int kNormThreads = 512;  // as rms_norm_kernel: the same summation order

__device__ __forceinline__ double warp_sum_d(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  return v;
}

// One block per token: [sum = a + b], y = rms_norm(sum or x) * w, then y quantized. The
// generic form loops over the row twice; a decode step is latency-bound (one block), so for
// rows of up to kPer * kNormThreads values the row stays in registers instead: every load is
// issued at once rather than one latency per loop turn (13 us -> a few us per call on an H100
// for n = 4096). Thread t still owns values t, t + kNormThreads, ... and sums them in that
// order, so both forms give the same bits as rms_norm_kernel.
template <int kPer>
__global__ void __launch_bounds__(kNormThreads)
    add_norm_quantize_kernel(const float* a, const float* b, float* x, const float* __restrict__ w, float* y,
                             int64_t n, float eps, int8_t* __restrict__ xq, float2* __restrict__ xds) {
  allow_dependents_early();  // the matvecs after this one may load their weights meanwhile
  float* xr = x + blockIdx.x * n;
  float* yr = y + blockIdx.x * n;
  constexpr bool kInRegisters = kPer > 0;
  constexpr int kSlots = kInRegisters ? kPer : 1;
  float v[kSlots], wv[kSlots];
  double sum = 0.0;
  if constexpr (kInRegisters) {
    // The norm's weights are constant: they are loaded before the predecessor finishes.
#pragma unroll
    for (int k = 0; k < kPer; ++k) {
      const int64_t i = threadIdx.x + static_cast<int64_t>(k) * kNormThreads;
      wv[k] = i < n ? __ldg(w + i) : 0.f;
    }
    wait_for_predecessor();
#pragma unroll
    for (int k = 0; k < kPer; ++k) {
      const int64_t i = threadIdx.x + static_cast<int64_t>(k) * kNormThreads;
      v[k] = 0.f;
      if (i < n) v[k] = a != nullptr ? a[blockIdx.x * n + i] + b[blockIdx.x * n + i] : xr[i];
    }
#pragma unroll
    for (int k = 0; k < kPer; ++k) {
      const int64_t i = threadIdx.x + static_cast<int64_t>(k) * kNormThreads;
      if (i < n) {
        if (a != nullptr) xr[i] = v[k];
        sum += static_cast<double>(v[k]) * v[k];
      }
    }
  } else if (a != nullptr) {
    wait_for_predecessor();
    const float* ar = a + blockIdx.x * n;
    const float* br = b + blockIdx.x * n;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float s = ar[i] + br[i];
      xr[i] = s;
      sum += static_cast<double>(s) * s;
    }
  } else {
    wait_for_predecessor();
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += static_cast<double>(xr[i]) * xr[i];
  }
  __shared__ double partial[32];
  sum = warp_sum_d(sum);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = sum;
  __syncthreads();
  if (threadIdx.x < 32) {
    double s = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0;
    s = warp_sum_d(s);
    if (threadIdx.x == 0) partial[0] = s;
  }
  __syncthreads();
  const float mean = static_cast<float>(partial[0] / static_cast<double>(n));
  const float scale = 1.0f / sqrtf(__fadd_rn(mean, eps));
  // blockDim is a multiple of 32 and n of 32: each warp's 32 values are one unit, and a
  // warp's lanes are all inside the row or all past it (quantize_unit needs the whole warp).
  const int64_t units_before = blockIdx.x * (n / 32);
  if constexpr (kInRegisters) {
#pragma unroll
    for (int k = 0; k < kPer; ++k) {
      const int64_t i = threadIdx.x + static_cast<int64_t>(k) * kNormThreads;
      if (i < n) {
        const float out = __fmul_rn(__fmul_rn(v[k], scale), wv[k]);
        yr[i] = out;
        quantize_unit(out, units_before + i / 32, xq, xds);
      }
    }
  } else {
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float out = __fmul_rn(__fmul_rn(xr[i], scale), w[i]);
      yr[i] = out;
      quantize_unit(out, units_before + i / 32, xq, xds);
    }
  }
}

// out = silu(gate) * up, then out quantized; one warp per unit, grid-stride.
__global__ void swiglu_quantize_kernel(const float* gate, const float* up, float* out, int64_t units,
                                       int8_t* __restrict__ xq, float2* __restrict__ xds) {
  allow_dependents_early();
  wait_for_predecessor();
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t unit = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; unit < units;
       unit += warps) {
    const int64_t i = unit * 32 + (threadIdx.x & 31);
    const float g = gate[i];
    const float silu = g < -88.0f ? 0.0f : g / (1.0f + expf(-g));
    const float v = silu * up[i];
    out[i] = v;
    quantize_unit(v, unit, xq, xds);
  }
}

}  // namespace

cudaError_t launch_add_norm_quantize(const float* a, const float* b, float* x, const float* w, float* y,
                                     int64_t n_tokens, int64_t n, float eps, void* scratch, cudaStream_t stream) {
  if (n_tokens < 1 || n_tokens > kMaxDecodeTokens || n % 32 != 0) return cudaErrorInvalidValue;
  int8_t* xq = nullptr;
  float2* xds = nullptr;
  split_scratch(scratch, n_tokens * (n / 32), xq, xds);
  const auto go = [&](auto kernel) {
    return launch_dependent(kernel, static_cast<unsigned>(n_tokens), kNormThreads, 0, stream, a, b, x, w, y, n, eps, xq,
                            xds);
  };
  const int64_t per = (n + kNormThreads - 1) / kNormThreads;  // values per thread
  if (per <= 1) return go(add_norm_quantize_kernel<1>);
  if (per <= 2) return go(add_norm_quantize_kernel<2>);
  if (per <= 4) return go(add_norm_quantize_kernel<4>);
  if (per <= 8) return go(add_norm_quantize_kernel<8>);
  if (per <= 16) return go(add_norm_quantize_kernel<16>);
  return go(add_norm_quantize_kernel<0>);  // rows over 8192 values: the looping form
}

cudaError_t launch_swiglu_quantize(const float* gate, const float* up, float* out, int64_t n_tokens, int64_t n,
                                   void* scratch, cudaStream_t stream) {
  if (n_tokens < 1 || n_tokens > kMaxDecodeTokens || n % 32 != 0) return cudaErrorInvalidValue;
  const int64_t units = n_tokens * (n / 32);
  int8_t* xq = nullptr;
  float2* xds = nullptr;
  split_scratch(scratch, units, xq, xds);
  const int64_t blocks = (units + 7) / 8;  // 8 warps per block
  return launch_dependent(swiglu_quantize_kernel, static_cast<unsigned>(blocks), 256, 0, stream, gate, up, out, units,
                          xq, xds);
}

}  // namespace strata::backend::cuda
