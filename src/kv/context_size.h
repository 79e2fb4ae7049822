// The -c rule shared by every command (llama.cpp's): no -c means the training context capped at
// 4096 cells, -c 0 means the whole training context, anything else is taken as given.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

namespace strata::kv {

inline constexpr uint64_t kDefaultMaxContext = 4096;

// `requested` must not be negative (callers refuse that with their flag's name).
inline uint64_t context_cells(std::optional<uint64_t> requested, uint64_t n_ctx_train) {
  if (!requested) return std::min(n_ctx_train, kDefaultMaxContext);
  return *requested == 0 ? n_ctx_train : *requested;
}

}  // namespace strata::kv
