// How far ahead of the weights they multiply the decode kernels prefetch, per CPU.
#pragma once

#include <cstdint>
#include <optional>

namespace strata::backend::cpu {

// Bytes past the weight block being multiplied that the decode kernels (one token; 2-4 tokens
// in one pass over the rows; the other types' row-by-row kernels) ask into L1 with software
// prefetches; 0: none (the hardware prefetcher alone). Chosen once per process from the
// CPU's vendor (see decode_prefetch.cpp for the measurements behind it);
// STRATA_CPU_PREFETCH=N overrides it (0 turns it off, else 64 to 65536 bytes; other values
// are ignored).
int64_t decode_prefetch_bytes();

// Test hook: every later decode prefetches `bytes` ahead (0: none); std::nullopt goes back to
// the per-CPU choice. Not for use while matmuls run on other threads.
void force_decode_prefetch(std::optional<int64_t> bytes);

}  // namespace strata::backend::cpu
