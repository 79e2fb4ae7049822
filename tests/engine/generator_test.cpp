// generate(): greedy steps against the reference model, prompt logits, end tokens, the context
// limit, seeded sampling and the errors of bad settings.
#include "engine/generator.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "backend/cpu/cpu_backend.h"
#include "model/tiny_model.h"
#include "support/temp_dir.h"

namespace strata::engine {
namespace {

using testing::ReferenceModel;
using testing::TinySpec;

struct Fixture {
  testing::TempDir dir;
  gguf::File file;
  std::unique_ptr<backend::cpu::CpuBackend> backend;
  std::unique_ptr<model::Model> model;
};

std::unique_ptr<Fixture> load(uint64_t n_ctx = 64, uint32_t n_outputs = 16) {
  auto f = std::make_unique<Fixture>();
  f->file = *gguf::File::open(testing::write_tiny_model(TinySpec{}, f->dir.path()));
  f->backend = std::move(*backend::cpu::CpuBackend::create(2));
  model::ModelConfig config;
  config.kv.n_ctx = n_ctx;
  config.kv.type_k = quant::Type::F32;
  config.kv.type_v = quant::Type::F32;
  config.n_batch = 16;
  config.n_outputs = n_outputs;
  auto model = model::Model::load(f->file, *f->backend, config);
  EXPECT_TRUE(model.ok()) << model.status().message();
  f->model = std::move(*model);
  return f;
}

GenerateOptions greedy(int32_t n) {
  GenerateOptions options;
  options.n_predict = n;
  options.sampling.temperature = 0.0f;
  return options;
}

const std::vector<int32_t> kPrompt = {1, 17, 42, 5, 88, 63, 9};

TEST(GeneratorTest, GreedyTokensAreTheReferenceArgmax) {
  auto f = load();
  std::vector<int32_t> streamed;
  auto result = generate(*f->model, kPrompt, greedy(8), [&](int32_t t) {
    streamed.push_back(t);
    return Status();
  });
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_EQ(result->generated.size(), 8u);
  EXPECT_EQ(streamed, result->generated);
  EXPECT_EQ(result->n_decode, 7);
  EXPECT_EQ(result->n_prompt, 7);
  EXPECT_GT(result->prompt_ms, 0.0);
  EXPECT_FALSE(result->ended_by_token);
  EXPECT_EQ(f->model->length(0), kPrompt.size() + 7);

  // Each chosen token is the reference's argmax (up to float noise in near-ties).
  ReferenceModel ref(f->file);
  std::vector<ReferenceModel::Vec> logits = ref.forward(kPrompt);
  for (int32_t token : result->generated) {
    const ReferenceModel::Vec& row = logits.back();
    const double best = *std::max_element(row.begin(), row.end());
    EXPECT_GT(row[token], best - 1e-3);
    logits = ref.forward({token});
  }
}

TEST(GeneratorTest, PromptLogitsAreEveryRow) {
  auto f = load();
  GenerateOptions options = greedy(0);
  options.prompt_logits = true;
  auto result = generate(*f->model, kPrompt, options);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->generated.empty());
  EXPECT_EQ(result->n_decode, 0);
  const size_t n_vocab = f->model->hparams().n_vocab;
  ASSERT_EQ(result->prompt_logits.size(), kPrompt.size() * n_vocab);
  ReferenceModel ref(f->file);
  const auto expected = ref.forward(kPrompt);
  for (size_t t = 0; t < kPrompt.size(); ++t) {
    const std::span<const float> row(result->prompt_logits.data() + t * n_vocab, n_vocab);
    EXPECT_LT(testing::max_abs_diff(row, expected[t]), 5e-4) << "row " << t;
  }
}

TEST(GeneratorTest, RunningTwiceGivesTheSameTokens) {
  auto f = load();
  auto first = generate(*f->model, kPrompt, greedy(6));
  auto second = generate(*f->model, kPrompt, greedy(6));  // the sequence is cleared first
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->generated, second->generated);

  GenerateOptions sampled = greedy(6);
  sampled.sampling.temperature = 1.0f;
  sampled.sampling.seed = 42;
  auto a = generate(*f->model, kPrompt, sampled);
  auto b = generate(*f->model, kPrompt, sampled);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->generated, b->generated);
}

TEST(GeneratorTest, EndTokenStops) {
  auto f = load();
  auto free_run = generate(*f->model, kPrompt, greedy(6));
  ASSERT_TRUE(free_run.ok());
  GenerateOptions options = greedy(6);
  options.end_tokens = {free_run->generated[2]};
  auto result = generate(*f->model, kPrompt, options);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->ended_by_token);
  const auto first = std::find(free_run->generated.begin(), free_run->generated.end(), free_run->generated[2]);
  EXPECT_EQ(result->generated, std::vector<int32_t>(free_run->generated.begin(), first + 1));
}

TEST(GeneratorTest, StopsWhenTheContextIsFull) {
  auto f = load(/*n_ctx=*/10);
  auto result = generate(*f->model, kPrompt, greedy(20));
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->ended_by_context);
  EXPECT_EQ(f->model->length(0), 10u);
  EXPECT_EQ(result->generated.size(), 4u);  // 3 fed at positions 7..9, plus the one sampled last
}

TEST(GeneratorTest, BadInputsAreErrors) {
  auto f = load(/*n_ctx=*/6);
  auto too_long = generate(*f->model, kPrompt, greedy(1));
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("-c 7"), std::string::npos) << too_long.status().message();

  auto g = load();
  EXPECT_FALSE(generate(*g->model, {}, greedy(1)).ok());
  EXPECT_NE(generate(*g->model, kPrompt, greedy(-1)).status().message().find("negative"), std::string::npos);
  const std::vector<int32_t> bad = {1, 96};
  auto out_of_vocab = generate(*g->model, bad, greedy(1));
  ASSERT_FALSE(out_of_vocab.ok());
  EXPECT_NE(out_of_vocab.status().message().find("96"), std::string::npos);
  GenerateOptions bad_sampling = greedy(1);
  bad_sampling.sampling.top_p = 2.0f;
  EXPECT_FALSE(generate(*g->model, kPrompt, bad_sampling).ok());
}

TEST(GeneratorTest, CallbackErrorStops) {
  auto f = load();
  int calls = 0;
  auto result = generate(*f->model, kPrompt, greedy(5), [&](int32_t) {
    return ++calls == 2 ? unavailable("client went away") : Status();
  });
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(calls, 2);
  EXPECT_NE(result.status().message().find("client went away"), std::string::npos);
}

}  // namespace
}  // namespace strata::engine

namespace strata::engine {
namespace {

TEST(GeneratorTest, PromptLongerThanTheBatchRunsInPieces) {
  std::vector<int32_t> prompt(40);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((5 + 11 * i) % 96);
  GenerateOptions options = greedy(6);
  options.prompt_logits = true;
  auto whole = load(64, /*n_outputs=*/64);  // n_batch 16: three pieces of 16, 16, 8
  auto pieces = load(64, /*n_outputs=*/3);  // and 14 pieces of at most 3 rows
  auto a = generate(*whole->model, prompt, options);
  auto b = generate(*pieces->model, prompt, options);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(a->generated, b->generated);
  ASSERT_EQ(a->prompt_logits.size(), 40u * 96u);
  ASSERT_EQ(b->prompt_logits.size(), a->prompt_logits.size());
  for (size_t i = 0; i < a->prompt_logits.size(); ++i) {
    ASSERT_NEAR(a->prompt_logits[i], b->prompt_logits[i], 1e-3f) << "logit " << i;
  }
}

}  // namespace
}  // namespace strata::engine
