// A batch of tokens for one forward pass: token ids, positions, sequence ids and which rows
// need logits. Owns its storage; model::BatchView is the view the model reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/model.h"

namespace strata::engine {

class Batch {
 public:
  Batch() = default;
  // Reserves room for n tokens so that filling it up to n never allocates.
  explicit Batch(size_t capacity) { reserve(capacity); }

  void reserve(size_t n);
  void clear();
  void add(int32_t token, int32_t position, int32_t seq_id, bool output);
  // Adds tokens at consecutive positions from `first_position`; only the last wants logits
  // unless all_outputs.
  void add_sequence(const std::vector<int32_t>& tokens, int32_t first_position, int32_t seq_id, bool all_outputs);

  size_t size() const { return tokens_.size(); }
  bool empty() const { return tokens_.empty(); }
  size_t n_outputs() const;
  model::BatchView view() const { return {tokens_, positions_, seq_ids_, outputs_}; }

 private:
  std::vector<int32_t> tokens_;
  std::vector<int32_t> positions_;
  std::vector<int32_t> seq_ids_;
  std::vector<uint8_t> outputs_;
};

}  // namespace strata::engine
