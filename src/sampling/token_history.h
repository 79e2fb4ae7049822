// TokenHistory: the last N accepted tokens and how often each occurs, for the penalties.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace strata::sampling {

class TokenHistory {
 public:
  explicit TokenHistory(int32_t window = 0);

  // Appends a token; the oldest one leaves when the window is full. No-op for window 0.
  void push(int32_t token);
  void clear();

  int32_t window() const { return window_; }
  size_t size() const { return size_; }
  // Occurrences of each token now in the window (only tokens with a count > 0).
  const std::unordered_map<int32_t, int32_t>& counts() const { return counts_; }

 private:
  int32_t window_ = 0;
  std::vector<int32_t> ring_;  // grows up to window_, then wraps
  size_t next_ = 0;            // slot the next token goes to once the ring is full
  size_t size_ = 0;
  std::unordered_map<int32_t, int32_t> counts_;
};

}  // namespace strata::sampling
