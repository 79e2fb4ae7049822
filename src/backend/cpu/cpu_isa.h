// Which instruction-set path the CPU kernels use: detected once, overridable for tests.
#pragma once

#include <optional>
#include <string_view>

#include "core/status.h"

namespace strata::backend::cpu {

enum class Isa {
  kScalar,  // portable C++
  kAvx2,    // AVX2 + FMA + F16C
  kAvx512,  // AVX-512 F/BW/VL/DQ + VNNI (vpdpbusd) on top of the AVX2 set
};

std::string_view isa_name(Isa isa);

// Whether this CPU (and OS) can run the path.
bool isa_supported(Isa isa);

// Whether cpuid names the vendor "GenuineIntel" (tuning that differs by vendor, such as the
// decode prefetch of decode_prefetch.h).
bool cpu_is_intel();

// The best supported path, detected on first use.
Isa detected_isa();

// The path matmul uses now: the forced one if set, else detected_isa().
Isa active_isa();

// Test hook: run every later matmul on `isa` (an error when this CPU cannot run it);
// std::nullopt goes back to detection. Not for use while matmuls run on other threads.
Status force_isa(std::optional<Isa> isa);

}  // namespace strata::backend::cpu
