// Fused kernels of a decode-step graph (see StepGraph's fuser in cuda_backend.cpp): an op
// followed by the int8 quantization of its output for the next matvec, computed in one pass.
// Each does exactly the float operations of the kernels it replaces (ops.cu's add, rms_norm,
// swiglu and matvec_q8.cu's quantize_activations), so results do not change with fusion.
#include <cooperative_groups.h>

#include <cstdlib>
#include <string>

#include "backend/cuda/activation_quant.cuh"
#include "backend/cuda/block_sum.cuh"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"

namespace strata::backend::cuda {
namespace {

constexpr int kNormThreads = 512;  // as rms_norm_kernel: the same summation order

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
  const float mean = static_cast<float>(block_sum_d(sum) / static_cast<double>(n));
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

// The same on sm_90 with the row spread over a cluster of kPer blocks: one block alone does
// all of a row's quantization on one multiprocessor (about 7 us for 4096 values on an H100,
// 65 calls per token of an 8B model). Block c of the cluster reads values c * kNormThreads +
// t, keeps them in its shared memory, and after a cluster barrier every block reads all the
// row's values from its peers' shared memory (distributed shared memory) to form the sum of
// squares exactly as the one-block kernel does: thread t adds values t, t + kNormThreads, ...
// in that order, so the bits are the same. Each block then writes and quantizes only its own
// values. A value is read from global memory and written back by the same thread of the same
// block, so x may be a or b (x = x + proj) without a race between blocks.
template <int kPer>
__global__ void __launch_bounds__(kNormThreads)
    add_norm_quantize_cluster_kernel(const float* a, const float* b, float* x, const float* __restrict__ w, float* y,
                                     int64_t n, float eps, int8_t* __restrict__ xq, float2* __restrict__ xds) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  allow_dependents_early();
  const int64_t row = blockIdx.y;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kNormThreads + threadIdx.x;
  const float wv = i < n ? __ldg(w + i) : 0.f;
  wait_for_predecessor();
  float v = 0.f;
  if (i < n) v = a != nullptr ? a[row * n + i] + b[row * n + i] : x[row * n + i];
  __shared__ float mine[kNormThreads];
  mine[threadIdx.x] = v;
  cluster.sync();
  double sum = 0.0;
#pragma unroll
  for (int k = 0; k < kPer; ++k) {
    const float vk = *cluster.map_shared_rank(&mine[threadIdx.x], k);
    if (threadIdx.x + static_cast<int64_t>(k) * kNormThreads < n) sum += static_cast<double>(vk) * vk;
  }
  cluster.sync();  // no block leaves (and frees its shared memory) while a peer still reads it
  const float mean = static_cast<float>(block_sum_d(sum) / static_cast<double>(n));
  const float scale = 1.0f / sqrtf(__fadd_rn(mean, eps));
  if (i < n) {  // whole warps (n and kNormThreads are multiples of 32)
    if (a != nullptr) x[row * n + i] = v;
    const float out = __fmul_rn(__fmul_rn(v, scale), wv);
    y[row * n + i] = out;
    quantize_unit(out, (row * n + i) / 32, xq, xds);
  }
#endif
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

// Clusters need sm_90; STRATA_CUDA_NORM_CLUSTER=0 turns them off (for comparisons).
bool cluster_norm_enabled() {
  static const bool enabled = [] {
    if (const char* env = std::getenv("STRATA_CUDA_NORM_CLUSTER"); env != nullptr && std::string(env) == "0") {
      return false;
    }
    return device_is_sm90_or_later();
  }();
  return enabled;
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
  if (per >= 2 && per <= 8 && cluster_norm_enabled()) {
    const auto cluster = [&](auto kernel, unsigned size) {
      return launch_dependent_clustered(size, kernel, dim3(size, static_cast<unsigned>(n_tokens)), kNormThreads, 0,
                                        stream, a, b, x, w, y, n, eps, xq, xds);
    };
    if (per <= 2) return cluster(add_norm_quantize_cluster_kernel<2>, 2);
    if (per <= 4) return cluster(add_norm_quantize_cluster_kernel<4>, 4);
    return cluster(add_norm_quantize_cluster_kernel<8>, 8);
  }
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
