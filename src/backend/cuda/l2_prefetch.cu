// Pulls byte ranges of device memory (the next matvec's weights) into L2 without reading them
// into registers. A decode step alternates long bandwidth-bound matvecs with short
// latency-bound kernels (norms, RoPE and K/V writes, attention, SwiGLU) that leave the memory
// bus idle; this kernel runs beside those on a branch of the step graph, so the matvec after
// them finds part of its weights in L2 instead of waiting for them in its first wave.
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/kernels.h"

namespace strata::backend::cuda {
namespace {

constexpr int kThreads = 256;
constexpr size_t kMaxBlocks = 64;
constexpr size_t kSector = 32;          // prefetch.global.L2 fetches one 32-byte sector
constexpr size_t kBulkChunk = 16 << 10;  // bytes one bulk prefetch (sm_90 TMA) asks for

struct Ranges {
  L2Range r[kMaxL2Ranges];
  int n;
};

__device__ __forceinline__ void prefetch_sector(const uint8_t* p) {
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
constexpr bool kHaveBulk = true;
__device__ __forceinline__ void bulk_prefetch(const uint8_t* p) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(static_cast<unsigned>(kBulkChunk))
               : "memory");
}
#else
constexpr bool kHaveBulk = false;
__device__ __forceinline__ void bulk_prefetch(const uint8_t*) {}
#endif

// Whole 16-byte-aligned chunks go to the TMA unit (one instruction each); the sm_80 build and
// the ranges' unaligned ends use sector prefetches.
// kInChain: launched in the step's chain (a dependent launch right after the matvec before
// the short kernels): it lets the next kernel launch at once, issues its prefetches, then waits
// for the matvec like any kernel of the chain before it exits.
template <bool kBulk, bool kInChain>
__global__ void __launch_bounds__(kThreads) l2_prefetch_kernel(const Ranges ranges) {
  if constexpr (kInChain) allow_dependents_early();
  const size_t stride = static_cast<size_t>(gridDim.x) * kThreads;
  const size_t tid = static_cast<size_t>(blockIdx.x) * kThreads + threadIdx.x;
  for (int i = 0; i < ranges.n; ++i) {
    const auto* base = static_cast<const uint8_t*>(ranges.r[i].data);
    const size_t bytes = ranges.r[i].bytes;
    constexpr bool kUseBulk = kBulk && kHaveBulk;
    if constexpr (kUseBulk) {
      const auto start = reinterpret_cast<uintptr_t>(base);
      const uintptr_t first = (start + 15) & ~uintptr_t{15};
      const size_t head = first - start < bytes ? first - start : bytes;
      const size_t body = (bytes - head) / kBulkChunk * kBulkChunk;
      for (size_t c = tid * kBulkChunk; c < body; c += stride * kBulkChunk) bulk_prefetch(base + head + c);
      for (size_t s = tid * kSector; s < head; s += stride * kSector) prefetch_sector(base + s);
      for (size_t s = head + body + tid * kSector; s < bytes; s += stride * kSector) prefetch_sector(base + s);
    } else {
      for (size_t s = tid * kSector; s < bytes; s += stride * kSector) prefetch_sector(base + s);
    }
  }
  if constexpr (kInChain) wait_for_predecessor();
}

}  // namespace

cudaError_t launch_l2_prefetch(const L2Range* ranges, int n_ranges, bool bulk, bool in_chain, cudaStream_t stream) {
  if (n_ranges < 1 || n_ranges > kMaxL2Ranges) return cudaErrorInvalidValue;
  Ranges r{};
  size_t total = 0;
  for (int i = 0; i < n_ranges; ++i) {
    if (ranges[i].data == nullptr && ranges[i].bytes > 0) return cudaErrorInvalidValue;
    r.r[i] = ranges[i];
    total += ranges[i].bytes;
  }
  r.n = n_ranges;
  // Enough threads that each issues a few dozen prefetches at most; few blocks, so that the
  // kernels of the main chain beside it keep their multiprocessors.
  const size_t per_block = bulk ? kBulkChunk * kThreads : kSector * kThreads * 8;
  const size_t wanted = (total + per_block - 1) / per_block;
  const unsigned blocks = static_cast<unsigned>(wanted < 1 ? 1 : (wanted > kMaxBlocks ? kMaxBlocks : wanted));
  if (in_chain) {
    return bulk ? launch_dependent(l2_prefetch_kernel<true, true>, blocks, kThreads, 0, stream, r)
                : launch_dependent(l2_prefetch_kernel<false, true>, blocks, kThreads, 0, stream, r);
  }
  if (bulk) {
    l2_prefetch_kernel<true, false><<<blocks, kThreads, 0, stream>>>(r);
  } else {
    l2_prefetch_kernel<false, false><<<blocks, kThreads, 0, stream>>>(r);
  }
  return cudaGetLastError();
}

}  // namespace strata::backend::cuda
