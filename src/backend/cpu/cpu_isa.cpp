// CPU feature detection (cpuid + xgetbv) and the test override.
#include "backend/cpu/cpu_isa.h"

#include <atomic>
#include <cstdint>
#include <cstring>

#if defined(STRATA_CPU_X86)
#include <cpuid.h>
#endif

namespace strata::backend::cpu {
namespace {

#if defined(STRATA_CPU_X86) && (defined(__GNUC__) || defined(__clang__))
struct CpuidRegs {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

CpuidRegs cpuid(unsigned leaf, unsigned subleaf) {
  CpuidRegs r;
  if (__get_cpuid_max(0, nullptr) < leaf) return r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

// XCR0: which register states the OS saves on a context switch. Wide registers are only
// usable when it saves them, whatever cpuid says.
uint64_t xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool bit(unsigned reg, int n) { return (reg >> n) & 1u; }
#endif

// Reads cpuid directly: clang 14's __builtin_cpu_supports knows neither "f16c" nor "bmi2".
bool detect(Isa isa) {
#if defined(STRATA_CPU_X86) && (defined(__GNUC__) || defined(__clang__))
  if (isa == Isa::kScalar) return true;
  const CpuidRegs l1 = cpuid(1, 0);
  const CpuidRegs l7 = cpuid(7, 0);
  const bool osxsave = bit(l1.ecx, 27);
  const uint64_t xcr = osxsave ? xcr0() : 0;
  const bool os_avx = (xcr & 0x6) == 0x6;            // SSE + AVX state
  const bool os_avx512 = os_avx && (xcr & 0xE0) == 0xE0;  // opmask + upper ZMM state
  const bool avx2 = os_avx && bit(l1.ecx, 28) /*avx*/ && bit(l1.ecx, 12) /*fma*/ &&
                    bit(l1.ecx, 29) /*f16c*/ && bit(l7.ebx, 5) /*avx2*/ && bit(l7.ebx, 8) /*bmi2*/;
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return avx2;
    case Isa::kAvx512:
      return avx2 && os_avx512 && bit(l7.ebx, 16) /*avx512f*/ && bit(l7.ebx, 17) /*avx512dq*/ &&
             bit(l7.ebx, 30) /*avx512bw*/ && bit(l7.ebx, 31) /*avx512vl*/ &&
             bit(l7.ecx, 11) /*avx512vnni*/;
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

bool cpu_is_intel() {
#if defined(STRATA_CPU_X86) && (defined(__GNUC__) || defined(__clang__))
  static const bool intel = [] {
    const CpuidRegs r = cpuid(0, 0);
    char vendor[12];
    std::memcpy(vendor, &r.ebx, 4);
    std::memcpy(vendor + 4, &r.edx, 4);
    std::memcpy(vendor + 8, &r.ecx, 4);
    return std::memcmp(vendor, "GenuineIntel", 12) == 0;
  }();
  return intel;
#else
  return false;
#endif
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
