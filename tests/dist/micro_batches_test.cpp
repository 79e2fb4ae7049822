// Micro-batch cuts: never inside a sequence's run for split_at_sequences, balanced by tokens,
// covering the batch in order.
#include "dist/micro_batches.h"

#include <gtest/gtest.h>

#include <vector>

namespace strata::dist {
namespace {

void expect_cover(const TokenRanges& r, size_t n) {
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(r.front().first, 0u);
  EXPECT_EQ(r.back().second, n);
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_LT(r[i].first, r[i].second) << "range " << i << " is empty";
    if (i > 0) {
      EXPECT_EQ(r[i].first, r[i - 1].second);
    }
  }
}

TEST(MicroBatches, DecodeStepOfSeveralRequestsSplitsPerWorker) {
  const std::vector<int32_t> four = {0, 1, 2, 3};
  EXPECT_EQ(split_at_sequences(four, 2), (TokenRanges{{0, 2}, {2, 4}}));
  EXPECT_EQ(split_at_sequences(four, 4), (TokenRanges{{0, 1}, {1, 2}, {2, 3}, {3, 4}}));
  EXPECT_EQ(split_at_sequences(four, 8).size(), 4u);  // never more ranges than sequences
  const std::vector<int32_t> three = {5, 6, 7};
  expect_cover(split_at_sequences(three, 2), 3);
  EXPECT_EQ(split_at_sequences(three, 2).size(), 2u);
}

TEST(MicroBatches, NeverCutsASequence) {
  // Two decode tokens, then a 10-token prompt chunk, then one more decode token.
  const std::vector<int32_t> mixed = {0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3};
  for (size_t k = 1; k <= 5; ++k) {
    const TokenRanges r = split_at_sequences(mixed, k);
    expect_cover(r, mixed.size());
    for (const auto& [b, e] : r) {
      if (b > 0) {
        EXPECT_NE(mixed[b - 1], mixed[b]) << "cut inside sequence " << mixed[b] << " at " << b;
      }
    }
  }
  EXPECT_EQ(split_at_sequences(mixed, 3), (TokenRanges{{0, 2}, {2, 12}, {12, 13}}));
}

TEST(MicroBatches, OnePromptOrNoSplitIsTheWholeBatch) {
  const std::vector<int32_t> prompt(64, 3);
  EXPECT_EQ(split_at_sequences(prompt, 2), (TokenRanges{{0, 64}}));
  EXPECT_EQ(split_at_sequences(std::vector<int32_t>{0, 1}, 1), (TokenRanges{{0, 2}}));
  EXPECT_EQ(split_at_sequences(std::vector<int32_t>{0, 1}, 0), (TokenRanges{{0, 2}}));
}

TEST(MicroBatches, EvenSplitCutsAnywhere) {
  EXPECT_EQ(split_evenly(10, 2), (TokenRanges{{0, 5}, {5, 10}}));
  EXPECT_EQ(split_evenly(3, 8).size(), 3u);
  EXPECT_EQ(split_evenly(7, 0), (TokenRanges{{0, 7}}));
  expect_cover(split_evenly(512, 3), 512);
}

}  // namespace
}  // namespace strata::dist
