// AVX-512 (F/BW/VL/DQ + VNNI) path of the CPU kernels: compiled with those instruction sets
// (src/backend/CMakeLists.txt) and called only after a run-time CPU check.
#include "backend/cpu/isa_kernels.h"

#if defined(STRATA_CPU_X86)

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/blocks.h"
#include "quant/type.h"

#define STRATA_X86_VNNI 1
#define STRATA_X86_PANEL_TOKENS 6
#define STRATA_X86_FLOAT_TOKENS 6

namespace strata::backend::cpu {
namespace avx512_path {
#include "backend/cpu/x86_kernels.inc"
}  // namespace avx512_path

const IsaKernels* avx512_kernels() { return &avx512_path::kKernels; }

}  // namespace strata::backend::cpu

#else

namespace strata::backend::cpu {
const IsaKernels* avx512_kernels() { return nullptr; }
}  // namespace strata::backend::cpu

#endif
