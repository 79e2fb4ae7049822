// TokenHistory: ring buffer plus occurrence counts.
#include "sampling/token_history.h"

namespace strata::sampling {

TokenHistory::TokenHistory(int32_t window) : window_(window < 0 ? 0 : window) {}

void TokenHistory::push(int32_t token) {
  if (window_ == 0) return;
  const auto capacity = static_cast<size_t>(window_);
  if (size_ < capacity) {
    // The ring grows with use so a large window costs memory only once it fills.
    ring_.push_back(token);
    ++size_;
  } else {
    int32_t& slot = ring_[next_];
    auto it = counts_.find(slot);
    if (it != counts_.end() && --it->second == 0) counts_.erase(it);
    slot = token;
    next_ = (next_ + 1) % capacity;
  }
  ++counts_[token];
}

void TokenHistory::clear() {
  ring_.clear();
  next_ = 0;
  size_ = 0;
  counts_.clear();
}

}  // namespace strata::sampling
