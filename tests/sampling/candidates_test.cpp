// The chain's individual steps on small, hand-computed vocabularies.
#include "sampling/candidates.h"
#include "sampling/fast_exp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace strata::sampling {
namespace {

Candidates from_logits(const std::vector<float>& logits) {
  Candidates c;
  for (size_t i = 0; i < logits.size(); ++i) c.items.push_back({static_cast<int32_t>(i), logits[i], 0.0f});
  return c;
}

// Logits whose softmax is exactly the given probabilities.
Candidates from_probs(const std::vector<float>& probs) {
  std::vector<float> logits;
  for (float p : probs) logits.push_back(std::log(p));
  return from_logits(logits);
}

std::vector<int32_t> sorted_ids(const Candidates& c) {
  std::vector<int32_t> ids;
  for (const TokenProb& t : c.items) ids.push_back(t.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(Softmax, MatchesHandComputed) {
  Candidates c = from_logits({0.0f, std::log(3.0f)});
  softmax(c);
  EXPECT_NEAR(c.items[0].p, 0.25f, 1e-6);
  EXPECT_NEAR(c.items[1].p, 0.75f, 1e-6);
}

TEST(Softmax, LargeLogitsDoNotOverflow) {
  Candidates c = from_logits({1000.0f, 1000.0f});
  softmax(c);
  EXPECT_NEAR(c.items[0].p, 0.5f, 1e-6);
  EXPECT_NEAR(c.items[1].p, 0.5f, 1e-6);
}

TEST(FastExp, MatchesStdExp) {
  std::vector<float> x;
  for (float v = -90.0f; v <= 0.0f; v += 0.0137f) x.push_back(v);
  x.push_back(0.0f);
  x.push_back(-INFINITY);
  const std::vector<float> in = x;
  const double sum = exp_in_place(x.data(), x.size());
  double want_sum = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const double want = std::exp(static_cast<double>(in[i]));
    want_sum += in[i] < -87.0f ? 0.0 : want;
    if (in[i] < -87.0f) {
      EXPECT_EQ(x[i], 0.0f) << in[i];
    } else {
      EXPECT_NEAR(x[i], want, want * 3e-7) << in[i];
    }
  }
  EXPECT_EQ(x.front(), 0.0f);
  EXPECT_EQ(x.back(), 0.0f);
  EXPECT_NEAR(sum, want_sum, want_sum * 1e-6);
  // Lengths that leave a tail after the vector loop.
  for (size_t n = 0; n < 9; ++n) {
    std::vector<float> y(n, std::log(2.0f));
    EXPECT_NEAR(exp_in_place(y.data(), n), 2.0 * static_cast<double>(n), 1e-5);
    for (float v : y) EXPECT_NEAR(v, 2.0f, 1e-6f);
  }
}

TEST(TopK, KeepsTheKHighest) {
  Candidates c = from_logits({1, 5, 3, 2, 4});
  apply_top_k(c, 2);
  ASSERT_EQ(c.items.size(), 2u);
  EXPECT_EQ(c.items[0].id, 1);
  EXPECT_EQ(c.items[1].id, 4);
  EXPECT_TRUE(c.sorted);
}

TEST(TopK, ZeroOrLargeKIsOff) {
  Candidates c = from_logits({1, 5, 3});
  apply_top_k(c, 0);
  EXPECT_EQ(c.items.size(), 3u);
  apply_top_k(c, 10);
  EXPECT_EQ(c.items.size(), 3u);
}

TEST(TopK, TiesGoToLowerIds) {
  Candidates c = from_logits({2, 2, 2, 2});
  apply_top_k(c, 2);
  EXPECT_EQ(sorted_ids(c), (std::vector<int32_t>{0, 1}));
}

TEST(TopP, SmallestPrefixReachingP) {
  {
    Candidates c = from_probs({0.15f, 0.5f, 0.05f, 0.3f});
    apply_top_p(c, 0.75f, 0);
    EXPECT_EQ(sorted_ids(c), (std::vector<int32_t>{1, 3}));  // 0.5 + 0.3
  }
  {
    Candidates c = from_probs({0.15f, 0.5f, 0.05f, 0.3f});
    apply_top_p(c, 0.81f, 0);
    EXPECT_EQ(sorted_ids(c), (std::vector<int32_t>{0, 1, 3}));  // 0.5 + 0.3 + 0.15
  }
  {
    Candidates c = from_probs({0.15f, 0.5f, 0.05f, 0.3f});
    apply_top_p(c, 0.2f, 0);
    EXPECT_EQ(sorted_ids(c), (std::vector<int32_t>{1}));
  }
}

TEST(TopP, MinKeepWins) {
  Candidates c = from_probs({0.15f, 0.5f, 0.05f, 0.3f});
  apply_top_p(c, 0.2f, 3);
  EXPECT_EQ(sorted_ids(c), (std::vector<int32_t>{0, 1, 3}));
}

TEST(TopP, RenormalizesOverCurrentCandidates) {
  // After top-k 2 the two survivors hold 0.625 and 0.375 of the mass: p = 0.6 keeps only one.
  Candidates c = from_probs({0.5f, 0.3f, 0.2f});
  apply_top_k(c, 2);
  apply_top_p(c, 0.6f, 0);
  EXPECT_EQ(sorted_ids(c), (std::vector<int32_t>{0}));
}

TEST(TopP, LargeUnsortedSetSortsOnlyWhatItNeeds) {
  // 5000 tokens, one dominant: the nucleus is found in the first chunk.
  std::vector<float> logits(5000, 0.0f);
  logits[4321] = 20.0f;
  Candidates c = from_logits(logits);
  apply_top_p(c, 0.9f, 0);
  ASSERT_EQ(c.items.size(), 1u);
  EXPECT_EQ(c.items[0].id, 4321);
  // A flat distribution needs almost everything: the chunks must extend to the whole set.
  Candidates flat = from_logits(std::vector<float>(5000, 1.0f));
  apply_top_p(flat, 0.999f, 0);
  EXPECT_GE(flat.items.size(), 4990u);
  EXPECT_TRUE(std::is_sorted(flat.items.begin(), flat.items.end(), higher_logit));
}

TEST(MinP, KeepsTokensAboveFractionOfMax) {
  {
    Candidates c = from_probs({0.5f, 0.3f, 0.15f, 0.05f});
    apply_min_p(c, 0.2f, 0);  // threshold 0.1
    EXPECT_EQ(sorted_ids(c), (std::vector<int32_t>{0, 1, 2}));
  }
  {
    Candidates c = from_probs({0.5f, 0.3f, 0.15f, 0.05f});
    apply_min_p(c, 0.35f, 0);  // threshold 0.175
    EXPECT_EQ(sorted_ids(c), (std::vector<int32_t>{0, 1}));
  }
  {
    Candidates c = from_probs({0.5f, 0.3f, 0.15f, 0.05f});
    apply_min_p(c, 0.0f, 0);
    EXPECT_EQ(c.items.size(), 4u);
  }
}

TEST(MinP, MinKeepKeepsTheBest) {
  Candidates c = from_probs({0.05f, 0.3f, 0.15f, 0.5f});
  apply_min_p(c, 0.9f, 2);
  EXPECT_EQ(sorted_ids(c), (std::vector<int32_t>{1, 3}));
}

// probs 0.5 0.3 0.15 0.05: entropy 1.1421; |surprisal - entropy| = 0.449 0.062 0.755 1.854,
// so the typical order is id 1, 0, 2, 3.
TEST(Typical, KeepsTokensClosestToEntropy) {
  {
    Candidates c = from_probs({0.5f, 0.3f, 0.15f, 0.05f});
    apply_typical(c, 0.25f, 0);
    EXPECT_EQ(sorted_ids(c), (std::vector<int32_t>{1}));
  }
  {
    Candidates c = from_probs({0.5f, 0.3f, 0.15f, 0.05f});
    apply_typical(c, 0.5f, 0);
    EXPECT_EQ(sorted_ids(c), (std::vector<int32_t>{0, 1}));
  }
  {
    Candidates c = from_probs({0.5f, 0.3f, 0.15f, 0.05f});
    apply_typical(c, 0.85f, 0);
    EXPECT_EQ(sorted_ids(c), (std::vector<int32_t>{0, 1, 2}));
  }
  {
    Candidates c = from_probs({0.5f, 0.3f, 0.15f, 0.05f});
    apply_typical(c, 1.0f, 0);
    EXPECT_EQ(c.items.size(), 4u);
  }
}

TEST(Temperature, SharpensAndFlattens) {
  Candidates c = from_logits({0.0f, std::log(2.0f)});
  apply_temperature(c, 0.5f);  // ratio 2 becomes 4
  softmax(c);
  EXPECT_NEAR(c.items[0].p, 0.2f, 1e-6);
  EXPECT_NEAR(c.items[1].p, 0.8f, 1e-6);
  Candidates hot = from_logits({0.0f, std::log(4.0f)});
  apply_temperature(hot, 2.0f);  // ratio 4 becomes 2
  softmax(hot);
  EXPECT_NEAR(hot.items[1].p, 2.0f / 3.0f, 1e-6);
}

TEST(Temperature, TinyTemperatureIsFiniteAndPicksMax) {
  Candidates c = from_logits({1.0f, 3.0f, 2.0f});
  apply_temperature(c, 1e-30f);
  softmax(c);
  for (const TokenProb& t : c.items) EXPECT_FALSE(std::isnan(t.p));
  EXPECT_EQ(c.items[1].p, 1.0f);
}

TEST(Pick, FollowsCumulativeProbability) {
  Candidates c = from_probs({0.25f, 0.5f, 0.25f});
  EXPECT_EQ(pick_by_probability(c, 0.0), 0u);
  EXPECT_EQ(pick_by_probability(c, 0.24), 0u);
  EXPECT_EQ(pick_by_probability(c, 0.26), 1u);
  EXPECT_EQ(pick_by_probability(c, 0.74), 1u);
  EXPECT_EQ(pick_by_probability(c, 0.76), 2u);
  EXPECT_EQ(pick_by_probability(c, 0.9999999999), 2u);
}

TEST(Pick, NeverPicksZeroProbability) {
  Candidates c = from_logits({0.0f, -200.0f});  // exp underflows to 0 for the second
  EXPECT_EQ(pick_by_probability(c, 0.9999999999), 0u);
}

}  // namespace
}  // namespace strata::sampling
