// Programmatic dependent launch (sm_90): a kernel launched with
// cudaLaunchAttributeProgrammaticStreamSerialization (launch_dependent below) may start while
// the kernel before it on the stream is still running, once every block of that one has
// called allow_dependents_early() (or exited). It must call wait_for_predecessor() before it
// touches anything the earlier kernels write or read; what no kernel writes (the weights) it
// may load before, which hides the weight loads' latency and the launch gap behind the
// previous kernel's tail. Both are no-ops before sm_90 and for kernels launched without the
// attribute. A decode step is a few hundred short kernels, so every kernel of the backend is
// launched this way: each calls wait_for_predecessor() before its first access to memory
// that another kernel writes, and none returns before that call (a kernel that finished
// without waiting would let its successor run ahead of the kernel before it).
#pragma once

#include <cuda_runtime.h>

#include <cstdlib>
#include <string>
#include <utility>

namespace strata::backend::cuda {

__device__ __forceinline__ void allow_dependents_early() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Returns once the kernels before this one on the stream have completed and their memory
// writes are visible.
__device__ __forceinline__ void wait_for_predecessor() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// The start of a kernel that reads or writes nothing before the kernel before it finishes:
// waits for it, then lets the next kernel launch (its blocks become resident and wait in
// turn, so the launch latency hides behind this kernel's run, one kernel ahead at most).
__device__ __forceinline__ void start_after_predecessor() {
  wait_for_predecessor();
  allow_dependents_early();
}

// Whether the current device is sm_90 or later (dependent launches, thread block clusters).
inline bool device_is_sm90_or_later() {
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return major >= 9;
}

// On sm_90 and later, unless STRATA_CUDA_PDL=0 (for comparisons).
inline bool dependent_launch_enabled() {
  static const bool enabled = [] {
    if (const char* env = std::getenv("STRATA_CUDA_PDL"); env != nullptr && std::string(env) == "0") return false;
    return device_is_sm90_or_later();
  }();
  return enabled;
}

// kernel<<<grid, block, shared_bytes, stream>>>(args...) with the dependent-launch attribute,
// its blocks grouped in clusters of `cluster` along x when cluster > 1 (sm_90).
template <typename... Params, typename... Args>
cudaError_t launch_dependent_clustered(unsigned cluster, void (*kernel)(Params...), dim3 grid, dim3 block,
                                       size_t shared_bytes, cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  cudaLaunchAttribute attributes[2]{};
  unsigned n = 0;
  if (cluster > 1) {
    attributes[n].id = cudaLaunchAttributeClusterDimension;
    attributes[n].val.clusterDim.x = cluster;
    attributes[n].val.clusterDim.y = 1;
    attributes[n].val.clusterDim.z = 1;
    ++n;
  }
  if (dependent_launch_enabled()) {
    attributes[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attributes[n].val.programmaticStreamSerializationAllowed = 1;
    ++n;
  }
  config.attrs = attributes;
  config.numAttrs = n;
  return cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
}

template <typename... Params, typename... Args>
cudaError_t launch_dependent(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
                             cudaStream_t stream, Args&&... args) {
  return launch_dependent_clustered(1, kernel, grid, block, shared_bytes, stream, std::forward<Args>(args)...);
}

}  // namespace strata::backend::cuda
