// The software prefetch distance of the decode kernels.
//
// Decode streams each weight byte once per token, so it runs at the speed memory reaches a
// core. On a 2-vCPU Intel Xeon (family 6 model 207, KVM guest) the hardware prefetchers left
// the q4_K kernel at 15 GB/s against the ~20 GB/s two threads read; prefetching 2-8 KB ahead
// made tg128 of the 1b synth models 30-50% faster (q5_0, q3_K and iq4_xs, through the general
// row kernels: 26-33%) and 2 and 4 tokens a step 50% and 27% faster (docs/benchmarks.md,
// 2026-12-07); the distances differed by less than the run-to-run noise. On the AMD EPYC Zen 4
// machine of the reference figures the same kernels already read at ~91% of what two threads
// can, and a whole-tile prefetch in the few-token kernels measured up to 15% slower there, so
// AMD (and any other vendor) keeps the hardware prefetcher alone until measured.
#include "backend/cpu/decode_prefetch.h"

#include <atomic>
#include <cstdlib>

#include "backend/cpu/cpu_isa.h"

namespace strata::backend::cpu {
namespace {

constexpr int64_t kIntelPrefetchBytes = 2048;

int64_t choose() {
  if (const char* env = std::getenv("STRATA_CPU_PREFETCH"); env != nullptr) {
    char* end = nullptr;
    const long long n = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && (n == 0 || (n >= 64 && n <= 65536))) return n;
  }
  return cpu_is_intel() ? kIntelPrefetchBytes : 0;
}

// -1: no override.
std::atomic<int64_t> g_forced{-1};

}  // namespace

int64_t decode_prefetch_bytes() {
  if (const int64_t forced = g_forced.load(std::memory_order_relaxed); forced >= 0) return forced;
  static const int64_t bytes = choose();
  return bytes;
}

void force_decode_prefetch(std::optional<int64_t> bytes) {
  g_forced.store(bytes.has_value() && *bytes >= 0 ? *bytes : -1, std::memory_order_relaxed);
}

}  // namespace strata::backend::cpu
