// Memory estimate of a KV cache: bytes of K and V for n_ctx cells at the chosen types.
#pragma once

#include <cstdint>

#include "core/status.h"
#include "quant/type.h"

namespace strata::kv {

// The parts of a model's shape that size its cache.
struct KvShape {
  uint32_t n_layer = 0;
  uint32_t n_head_kv = 0;
  uint32_t head_dim_k = 0;
  uint32_t head_dim_v = 0;

  uint64_t n_embd_k_gqa() const { return uint64_t{head_dim_k} * n_head_kv; }
  uint64_t n_embd_v_gqa() const { return uint64_t{head_dim_v} * n_head_kv; }
};

// As llama-server: n_ctx (-c) cells are shared by n_seq (-np) sequences, so the cache size
// depends on n_ctx only and each sequence can use n_ctx / n_seq of them.
struct KvConfig {
  uint64_t n_ctx = 0;
  uint32_t n_seq = 1;
  quant::Type type_k = quant::Type::F16;
  quant::Type type_v = quant::Type::F16;
};

struct KvMemory {
  KvConfig config;
  uint64_t n_ctx_per_seq = 0;
  uint64_t k_row_bytes = 0;  // one cell of one layer
  uint64_t v_row_bytes = 0;
  uint64_t k_bytes = 0;      // all cells, all layers
  uint64_t v_bytes = 0;

  uint64_t total_bytes() const { return k_bytes + v_bytes; }
};

// Checks the types against the head dims and n_ctx against n_seq; errors say what would work.
Result<KvMemory> estimate_kv_memory(const KvShape& shape, const KvConfig& config);

}  // namespace strata::kv
