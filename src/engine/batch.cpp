// Batch: appending tokens and viewing them as the model reads them.
#include "engine/batch.h"

namespace strata::engine {

void Batch::reserve(size_t n) {
  tokens_.reserve(n);
  positions_.reserve(n);
  seq_ids_.reserve(n);
  outputs_.reserve(n);
}

void Batch::clear() {
  tokens_.clear();
  positions_.clear();
  seq_ids_.clear();
  outputs_.clear();
}

void Batch::add(int32_t token, int32_t position, int32_t seq_id, bool output) {
  tokens_.push_back(token);
  positions_.push_back(position);
  seq_ids_.push_back(seq_id);
  outputs_.push_back(output ? 1 : 0);
}

void Batch::add_sequence(const std::vector<int32_t>& tokens, int32_t first_position, int32_t seq_id,
                         bool all_outputs) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    add(tokens[i], first_position + static_cast<int32_t>(i), seq_id, all_outputs || i + 1 == tokens.size());
  }
}

size_t Batch::n_outputs() const {
  size_t n = 0;
  for (uint8_t flag : outputs_) n += flag != 0 ? 1 : 0;
  return n;
}

}  // namespace strata::engine
