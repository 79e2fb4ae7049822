// Programmatic dependent launch (sm_90): a kernel launched with
// cudaLaunchAttributeProgrammaticStreamSerialization may start while the kernel before it on
// the stream is still running, once every block of that one has called
// allow_dependents_early() (or exited). It must call wait_for_predecessor() before it touches
// anything the earlier kernels write or read; what no kernel writes (the weights) it may load
// before, which hides the weight loads' latency and the launch gap behind the previous
// kernel's tail. Both are no-ops before sm_90 and for kernels launched without the attribute.
#pragma once

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

}  // namespace strata::backend::cuda
