// KvCache: allocation per layer, cell bookkeeping per sequence, and the row copies of copy().
#include "kv/kv_cache.h"

#include <fmt/format.h>

#include "kv/cache_type.h"

namespace strata::kv {

Result<KvCache> KvCache::create(backend::Backend& backend, const KvShape& shape, const KvConfig& config) {
  STRATA_ASSIGN_OR_RETURN(KvMemory memory, estimate_kv_memory(shape, config));
  if (shape.head_dim_k != shape.head_dim_v) {
    return unsupported("K head dim {} differs from V head dim {}; strata's attention needs them equal",
                       shape.head_dim_k, shape.head_dim_v);
  }
  STRATA_TRY(backend.check_kv_types(config.type_k, config.type_v, static_cast<int>(shape.head_dim_k)));

  KvCache cache;
  cache.backend_ = &backend;
  cache.shape_ = shape;
  cache.memory_ = memory;
  const uint64_t k_layer_bytes = config.n_ctx * memory.k_row_bytes;
  const uint64_t v_layer_bytes = config.n_ctx * memory.v_row_bytes;
  for (uint32_t il = 0; il < shape.n_layer; ++il) {
    STRATA_ASSIGN_OR_RETURN(auto k, backend.allocate(k_layer_bytes, fmt::format("the K cache of layer {}", il)));
    STRATA_ASSIGN_OR_RETURN(auto v, backend.allocate(v_layer_bytes, fmt::format("the V cache of layer {}", il)));
    cache.k_.push_back(std::move(k));
    cache.v_.push_back(std::move(v));
  }
  cache.lengths_.assign(config.n_seq, 0);
  cache.next_.assign(config.n_seq, 0);
  return cache;
}

void* KvCache::k_cell(uint32_t layer, uint32_t seq, uint64_t cell) const {
  const uint64_t row = uint64_t{seq} * memory_.n_ctx_per_seq + cell;
  return static_cast<uint8_t*>(k_[layer]->data()) + row * memory_.k_row_bytes;
}

void* KvCache::v_cell(uint32_t layer, uint32_t seq, uint64_t cell) const {
  const uint64_t row = uint64_t{seq} * memory_.n_ctx_per_seq + cell;
  return static_cast<uint8_t*>(v_[layer]->data()) + row * memory_.v_row_bytes;
}

Status KvCache::check_seq(std::string_view op, uint32_t seq) const {
  if (seq >= n_seq()) {
    return invalid_argument("{}: sequence {} does not exist; the cache has sequences 0 to {} (-np {})", op, seq,
                            n_seq() - 1, n_seq());
  }
  return {};
}

Status KvCache::check_batch(std::span<const int32_t> seq_ids, std::span<const int32_t> positions) {
  if (seq_ids.size() != positions.size()) {
    return invalid_argument("batch has {} sequence ids for {} positions; it needs one of each per token",
                            seq_ids.size(), positions.size());
  }
  for (size_t i = 0; i < seq_ids.size(); ++i) {
    if (seq_ids[i] < 0 || static_cast<uint32_t>(seq_ids[i]) >= n_seq()) {
      return invalid_argument("batch token {}: sequence id {} is out of range; use 0 to {} (-np {})", i, seq_ids[i],
                              n_seq() - 1, n_seq());
    }
    next_[seq_ids[i]] = lengths_[seq_ids[i]];
  }
  for (size_t i = 0; i < seq_ids.size(); ++i) {
    const auto seq = static_cast<uint32_t>(seq_ids[i]);
    const int64_t pos = positions[i];
    if (pos != static_cast<int64_t>(next_[seq])) {
      return invalid_argument(
          "batch token {}: sequence {} holds {} cells, so its next token must have position {}, not {} (positions of a "
          "sequence are consecutive)",
          i, seq, lengths_[seq], next_[seq], pos);
    }
    if (next_[seq] >= memory_.n_ctx_per_seq) {
      return resource_exhausted(
          "sequence {} is full: its {} cells (-c {} shared by -np {}) cannot take position {}; use a larger -c",
          seq, memory_.n_ctx_per_seq, memory_.config.n_ctx, n_seq(), pos);
    }
    ++next_[seq];
  }
  return {};
}

void KvCache::commit_batch(std::span<const int32_t> seq_ids, std::span<const int32_t> positions) {
  for (size_t i = 0; i < seq_ids.size() && i < positions.size(); ++i) {
    const auto seq = static_cast<uint32_t>(seq_ids[i]);
    if (seq >= n_seq() || positions[i] < 0) continue;
    const uint64_t end = static_cast<uint64_t>(positions[i]) + 1;
    if (end > lengths_[seq]) lengths_[seq] = end;
  }
}

Status KvCache::clear(uint32_t seq) {
  STRATA_TRY(check_seq("clear", seq));
  lengths_[seq] = 0;
  return {};
}

void KvCache::clear_all() {
  for (uint64_t& length : lengths_) length = 0;
}

Status KvCache::trim(uint32_t seq, uint64_t n) {
  STRATA_TRY(check_seq("trim", seq));
  if (n < lengths_[seq]) lengths_[seq] = n;
  return {};
}

Status KvCache::copy(uint32_t src, uint32_t dst, uint64_t n) {
  STRATA_TRY(check_seq("copy", src));
  STRATA_TRY(check_seq("copy", dst));
  if (n > lengths_[src]) {
    return invalid_argument("copy: sequence {} holds {} cells, fewer than the {} asked for", src, lengths_[src], n);
  }
  if (src == dst) {
    lengths_[dst] = n;
    return {};
  }
  if (n > 0) {
    // Cells of one sequence are contiguous in each layer, so each layer is one copy per type.
    for (uint32_t il = 0; il < shape_.n_layer; ++il) {
      STRATA_TRY(backend_->copy(k_cell(il, dst, 0), k_cell(il, src, 0), n * memory_.k_row_bytes));
      STRATA_TRY(backend_->copy(v_cell(il, dst, 0), v_cell(il, src, 0), n * memory_.v_row_bytes));
    }
  }
  lengths_[dst] = n;
  return {};
}

}  // namespace strata::kv
