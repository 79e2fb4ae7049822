// Validation of SamplingParams and TokenHistory bookkeeping.
#include "sampling/sampling_params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "sampling/sampler.h"
#include "sampling/token_history.h"

namespace strata::sampling {
namespace {

// Expects validation to fail with a message that names the field and shows the value.
void expect_rejected(const std::function<void(SamplingParams&)>& edit, const std::string& field,
                     const std::string& value, int32_t n_vocab = 100) {
  SamplingParams p;
  edit(p);
  Status s = validate(p, n_vocab);
  ASSERT_FALSE(s.ok()) << field;
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find(field), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(value), std::string::npos) << s.message();
  EXPECT_FALSE(Sampler::create(p, n_vocab).ok());
}

TEST(SamplingParams, DefaultsAreValid) { EXPECT_TRUE(validate(SamplingParams{}, 32000).ok()); }

TEST(SamplingParams, BoundaryValuesAreValid) {
  SamplingParams p;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.typical_p = 1e-6f;
  p.temperature = -3.0f;
  p.penalty_last_n = kMaxPenaltyLastN;
  p.repeat_penalty = 1e-3f;
  p.frequency_penalty = -2.0f;
  p.presence_penalty = 2.0f;
  p.logit_bias = {{0, -INFINITY}, {99, 100.0f}};
  EXPECT_TRUE(validate(p, 100).ok());
  p.top_k = 1000;  // larger than the vocabulary: simply keeps everything
  EXPECT_TRUE(validate(p, 100).ok());
}

TEST(SamplingParams, InvalidValuesNameTheField) {
  expect_rejected([](SamplingParams& p) { p.top_k = -1; }, "top_k", "-1");
  expect_rejected([](SamplingParams& p) { p.top_p = 0.0f; }, "top_p", "(0, 1]");
  expect_rejected([](SamplingParams& p) { p.top_p = 1.5f; }, "top_p", "1.5");
  expect_rejected([](SamplingParams& p) { p.top_p = NAN; }, "top_p", "nan");
  expect_rejected([](SamplingParams& p) { p.min_p = -0.1f; }, "min_p", "[0, 1]");
  expect_rejected([](SamplingParams& p) { p.min_p = 2.0f; }, "min_p", "2");
  expect_rejected([](SamplingParams& p) { p.typical_p = 0.0f; }, "typical_p", "(0, 1]");
  expect_rejected([](SamplingParams& p) { p.typical_p = 1.01f; }, "typical_p", "1.01");
  expect_rejected([](SamplingParams& p) { p.temperature = NAN; }, "temperature", "nan");
  expect_rejected([](SamplingParams& p) { p.temperature = INFINITY; }, "temperature", "inf");
  expect_rejected([](SamplingParams& p) { p.penalty_last_n = -1; }, "penalty_last_n", "-1");
  expect_rejected([](SamplingParams& p) { p.penalty_last_n = kMaxPenaltyLastN + 1; }, "penalty_last_n",
                  std::to_string(kMaxPenaltyLastN + 1));
  expect_rejected([](SamplingParams& p) { p.repeat_penalty = 0.0f; }, "repeat_penalty", "0");
  expect_rejected([](SamplingParams& p) { p.repeat_penalty = -1.0f; }, "repeat_penalty", "-1");
  expect_rejected([](SamplingParams& p) { p.repeat_penalty = NAN; }, "repeat_penalty", "nan");
  expect_rejected([](SamplingParams& p) { p.frequency_penalty = INFINITY; }, "frequency_penalty", "inf");
  expect_rejected([](SamplingParams& p) { p.presence_penalty = NAN; }, "presence_penalty", "nan");
  expect_rejected([](SamplingParams& p) { p.min_keep = -2; }, "min_keep", "-2");
  expect_rejected([](SamplingParams& p) { p.logit_bias = {{100, 1.0f}}; }, "logit_bias[0]", "100");
  expect_rejected([](SamplingParams& p) { p.logit_bias = {{1, 1.0f}, {-5, 1.0f}}; }, "logit_bias[1]", "-5");
  expect_rejected([](SamplingParams& p) { p.logit_bias = {{3, NAN}}; }, "logit_bias[0]", "nan");
  expect_rejected([](SamplingParams& p) { p.logit_bias = {{3, INFINITY}}; }, "logit_bias[0]", "inf");
}

TEST(SamplingParams, VocabularyMustBePositive) {
  EXPECT_FALSE(validate(SamplingParams{}, 0).ok());
  EXPECT_FALSE(Sampler::create(SamplingParams{}, -5).ok());
}

TEST(TokenHistory, CountsFollowTheWindow) {
  TokenHistory h(3);
  for (int32_t t : {5, 5, 7}) h.push(t);
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.counts().at(5), 2);
  EXPECT_EQ(h.counts().at(7), 1);
  h.push(9);  // evicts the first 5
  EXPECT_EQ(h.counts().at(5), 1);
  h.push(9);  // evicts the second 5
  EXPECT_EQ(h.counts().count(5), 0u);
  EXPECT_EQ(h.counts().at(9), 2);
  EXPECT_EQ(h.size(), 3u);
  h.clear();
  EXPECT_TRUE(h.counts().empty());
  h.push(1);
  EXPECT_EQ(h.counts().at(1), 1);
}

TEST(TokenHistory, LongRunMatchesRecount) {
  TokenHistory h(16);
  std::vector<int32_t> all;
  for (int i = 0; i < 1000; ++i) {
    const int32_t t = (i * 7919) % 23;
    h.push(t);
    all.push_back(t);
  }
  std::unordered_map<int32_t, int32_t> want;
  for (size_t i = all.size() - 16; i < all.size(); ++i) ++want[all[i]];
  EXPECT_EQ(h.counts(), want);
}

TEST(TokenHistory, ZeroWindowRecordsNothing) {
  TokenHistory h(0);
  h.push(1);
  EXPECT_EQ(h.size(), 0u);
  EXPECT_TRUE(h.counts().empty());
}

}  // namespace
}  // namespace strata::sampling
