// The KV cache of a contiguous layer range: per layer, K rows and V rows of independently chosen
// types in a backend's memory; n_ctx cells split evenly over n_seq sequences.
//
// Sequence s owns cells [s * n_ctx_per_seq, (s + 1) * n_ctx_per_seq) of every layer, and the
// token at position p of a sequence lives in its cell p. A sequence therefore always holds
// positions 0..length-1 without holes, which is exactly what attention reads, and prompt reuse
// (copy) is a row copy.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "kv/kv_memory.h"

namespace strata::kv {

class KvCache {
 public:
  // Checks the types against the head dims (a quantized type needs a multiple of 32; the error
  // lists the types that work) and against what the backend's attention supports, then
  // allocates n_ctx cells of every layer. shape.n_layer is the number of layers of the range.
  static Result<KvCache> create(backend::Backend& backend, const KvShape& shape, const KvConfig& config);

  KvCache(KvCache&&) noexcept = default;
  KvCache& operator=(KvCache&&) noexcept = default;

  const KvShape& shape() const { return shape_; }
  const KvMemory& memory() const { return memory_; }
  quant::Type type_k() const { return memory_.config.type_k; }
  quant::Type type_v() const { return memory_.config.type_v; }
  uint32_t n_seq() const { return memory_.config.n_seq; }
  uint64_t n_ctx_per_seq() const { return memory_.n_ctx_per_seq; }
  size_t k_row_bytes() const { return static_cast<size_t>(memory_.k_row_bytes); }
  size_t v_row_bytes() const { return static_cast<size_t>(memory_.v_row_bytes); }

  // Device address of cell `cell` of sequence `seq` in layer `layer` (0-based within the range).
  // Arguments are not checked: callers pass values check_batch() accepted.
  void* k_cell(uint32_t layer, uint32_t seq, uint64_t cell) const;
  void* v_cell(uint32_t layer, uint32_t seq, uint64_t cell) const;

  // Cells in use by a sequence = the position its next token takes. 0 for an unknown seq.
  uint64_t length(uint32_t seq) const { return seq < lengths_.size() ? lengths_[seq] : 0; }

  // Whether a batch can be appended: every sequence id in [0, n_seq), and the positions of each
  // sequence's tokens, in batch order, consecutive from its length and within its cells.
  // Does not allocate.
  Status check_batch(std::span<const int32_t> seq_ids, std::span<const int32_t> positions);
  // Marks a checked batch's cells as filled, once their K and V rows are written.
  void commit_batch(std::span<const int32_t> seq_ids, std::span<const int32_t> positions);

  // Forgets every cell of a sequence.
  Status clear(uint32_t seq);
  void clear_all();
  // Drops the cells at positions >= n (keeps the first n); n beyond the length changes nothing.
  Status trim(uint32_t seq, uint64_t n);
  // Makes dst hold src's first n cells (a shared prompt prefix), in every layer.
  Status copy(uint32_t src, uint32_t dst, uint64_t n);

 private:
  KvCache() = default;
  Status check_seq(std::string_view op, uint32_t seq) const;

  backend::Backend* backend_ = nullptr;
  KvShape shape_;
  KvMemory memory_;
  std::vector<std::unique_ptr<backend::DeviceBuffer>> k_;  // one per layer: n_ctx rows
  std::vector<std::unique_ptr<backend::DeviceBuffer>> v_;
  std::vector<uint64_t> lengths_;  // per sequence
  std::vector<uint64_t> next_;     // check_batch's scratch, per sequence
};

}  // namespace strata::kv
