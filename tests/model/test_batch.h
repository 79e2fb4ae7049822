// Batches and logits for model tests: storage for a batch (engine::Batch lives in a later
// module) and every output row of the last forward.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"

namespace strata::model {

struct TestBatch {
  std::vector<int32_t> tokens, positions, seq_ids;
  std::vector<uint8_t> output;
  void add(int32_t token, int32_t pos, int32_t seq, bool out) {
    tokens.push_back(token);
    positions.push_back(pos);
    seq_ids.push_back(seq);
    output.push_back(out ? 1 : 0);
  }
  BatchView view() const { return {tokens, positions, seq_ids, output}; }
};

inline std::vector<std::vector<float>> all_logits(const Model& model) {
  std::vector<std::vector<float>> rows;
  for (size_t i = 0; i < model.n_outputs(); ++i) {
    const auto row = model.logits(i);
    rows.emplace_back(row.begin(), row.end());
  }
  return rows;
}

}  // namespace strata::model
