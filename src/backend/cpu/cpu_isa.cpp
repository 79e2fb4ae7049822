// CPU feature detection (cpuid via the compiler's builtins) and the test override.
#include "backend/cpu/cpu_isa.h"

#include <atomic>

namespace strata::backend::cpu {
namespace {

bool detect(Isa isa) {
#if defined(STRATA_CPU_X86) && (defined(__GNUC__) || defined(__clang__))
  // The builtins also check that the OS saves the wide registers (XCR0).
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi2");
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return avx2;
    case Isa::kAvx512:
      return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vnni");
  }
  return false;
#else
  return isa == Isa::kScalar;
#endif
}

// -1: no override; else the forced Isa's value.
std::atomic<int> g_forced{-1};

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "unknown";
}

bool isa_supported(Isa isa) {
  static const bool supported[3] = {detect(Isa::kScalar), detect(Isa::kAvx2), detect(Isa::kAvx512)};
  return supported[static_cast<int>(isa)];
}

Isa detected_isa() {
  static const Isa best = isa_supported(Isa::kAvx512) ? Isa::kAvx512
                          : isa_supported(Isa::kAvx2) ? Isa::kAvx2
                                                      : Isa::kScalar;
  return best;
}

Isa active_isa() {
  const int forced = g_forced.load(std::memory_order_relaxed);
  return forced < 0 ? detected_isa() : static_cast<Isa>(forced);
}

Status force_isa(std::optional<Isa> isa) {
  if (!isa) {
    g_forced.store(-1, std::memory_order_relaxed);
    return {};
  }
  if (!isa_supported(*isa)) {
    return unsupported("CPU kernel path '{}' cannot run on this CPU; best available: '{}'", isa_name(*isa),
                       isa_name(detected_isa()));
  }
  g_forced.store(static_cast<int>(*isa), std::memory_order_relaxed);
  return {};
}

}  // namespace strata::backend::cpu
