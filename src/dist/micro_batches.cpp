#include "dist/micro_batches.h"

#include <algorithm>

namespace strata::dist {

TokenRanges split_at_sequences(std::span<const int32_t> seq_ids, size_t k) {
  const size_t n = seq_ids.size();
  std::vector<size_t> run_ends;  // end of each run of one sequence's tokens
  for (size_t i = 1; i <= n; ++i) {
    if (i == n || seq_ids[i] != seq_ids[i - 1]) run_ends.push_back(i);
  }
  k = std::min(k, run_ends.size());
  if (k < 2) return {{0, n}};
  TokenRanges out;
  size_t begin = 0;
  size_t run = 0;  // next run not yet in a range
  for (size_t c = 0; c + 1 < k; ++c) {
    // Take runs until this range reaches its share of the tokens, keeping one run for each
    // range still to come; stop before a run that would overshoot more than it falls short.
    const size_t target = n * (c + 1) / k;
    size_t end = run_ends[run++];
    const size_t last_allowed = run_ends.size() - (k - 1 - c);
    while (run < last_allowed && end < target) {
      const size_t next = run_ends[run];
      if (next > target && next - target > target - end) break;
      end = next;
      ++run;
    }
    out.emplace_back(begin, end);
    begin = end;
  }
  out.emplace_back(begin, n);
  return out;
}

TokenRanges split_evenly(size_t n_tokens, size_t k) {
  k = std::clamp<size_t>(k, 1, std::max<size_t>(n_tokens, 1));
  TokenRanges out;
  for (size_t c = 0; c < k; ++c) out.emplace_back(n_tokens * c / k, n_tokens * (c + 1) / k);
  return out;
}

}  // namespace strata::dist
