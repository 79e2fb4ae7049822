// KV cache memory estimate.
#include "kv/kv_memory.h"

#include <limits>

#include "kv/cache_type.h"

namespace strata::kv {
namespace {

bool mul_overflows(uint64_t a, uint64_t b) { return a != 0 && b > std::numeric_limits<uint64_t>::max() / a; }

}  // namespace

Result<KvMemory> estimate_kv_memory(const KvShape& shape, const KvConfig& config) {
  if (shape.n_layer == 0 || shape.n_head_kv == 0 || shape.head_dim_k == 0 || shape.head_dim_v == 0) {
    return invalid_argument(
        "KV cache shape has a zero dimension (layers {}, KV heads {}, K head dim {}, V head dim {}); "
        "every one must be at least 1",
        shape.n_layer, shape.n_head_kv, shape.head_dim_k, shape.head_dim_v);
  }
  if (config.n_seq == 0) {
    return invalid_argument("number of parallel sequences (-np) is 0; use 1 or more");
  }
  if (config.n_ctx == 0) {
    return invalid_argument("context size (-c) is 0 cells; use at least {} (one per sequence)", config.n_seq);
  }
  if (config.n_ctx < config.n_seq) {
    return invalid_argument(
        "context size (-c) {} is smaller than the number of parallel sequences (-np) {}: the context "
        "is shared by all sequences and each needs at least one cell; use -c {} or more, or fewer sequences",
        config.n_ctx, config.n_seq, config.n_seq);
  }
  STRATA_TRY(check_cache_type("K", config.type_k, shape.head_dim_k));
  STRATA_TRY(check_cache_type("V", config.type_v, shape.head_dim_v));

  KvMemory memory;
  memory.config = config;
  memory.n_ctx_per_seq = config.n_ctx / config.n_seq;
  STRATA_ASSIGN_OR_RETURN(memory.k_row_bytes, quant::row_bytes(config.type_k, shape.n_embd_k_gqa()));
  STRATA_ASSIGN_OR_RETURN(memory.v_row_bytes, quant::row_bytes(config.type_v, shape.n_embd_v_gqa()));

  const uint64_t cells = config.n_ctx;
  const uint64_t layers = shape.n_layer;
  if (mul_overflows(cells, layers) || mul_overflows(cells * layers, memory.k_row_bytes) ||
      mul_overflows(cells * layers, memory.v_row_bytes) ||
      cells * layers * memory.k_row_bytes > std::numeric_limits<uint64_t>::max() - cells * layers * memory.v_row_bytes) {
    return invalid_argument("a KV cache of {} cells x {} layers overflows a 64-bit byte count; use a smaller -c",
                            cells, layers);
  }
  memory.k_bytes = cells * layers * memory.k_row_bytes;
  memory.v_bytes = cells * layers * memory.v_row_bytes;
  return memory;
}

}  // namespace strata::kv
