// How a batch is cut into micro-batches along a chain of workers: while the second worker runs
// one micro-batch, the first already runs the next, so every stage is busy when several
// requests are in flight.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace strata::dist {

// Token ranges [begin, end) covering the batch in order.
using TokenRanges = std::vector<std::pair<size_t, size_t>>;

// At most k ranges of about equal token counts that never cut a sequence's run of consecutive
// tokens, so every token is computed exactly as in the whole batch (a decode step of four
// requests over two workers: two micro-batches of two tokens). One run (a single prompt) or
// k < 2: the whole batch.
TokenRanges split_at_sequences(std::span<const int32_t> seq_ids, size_t k);

// k ranges of about equal token counts, cutting anywhere: also pipelines one long prompt, but
// the results can differ in the last bits from the whole batch (matmul kernels depend on the
// number of tokens).
TokenRanges split_evenly(size_t n_tokens, size_t k);

}  // namespace strata::dist
