// Valid random blocks written directly in a block format: synth writes large models at disk
// speed without quantizing floats first.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "quant/type.h"

namespace strata::quant {

// Fills row_bytes(type, n) bytes at dst with blocks whose dequantized values are roughly
// uniform in [-scale, scale] (zero mean, finite, scales positive), deterministic in seed.
Status fill_random_row(Type type, uint64_t seed, float scale, void* dst, int64_t n);

}  // namespace strata::quant
