// Model: logits against the double-precision reference (llama, qwen2 with tied embeddings), KV
// cache consistency (one batch = token by token), several sequences in one batch, sequence
// operations (clear/trim/copy) and the checks of forward()'s inputs.
#include "model/model.h"

#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "model/test_batch.h"
#include "model/tiny_model.h"
#include "support/temp_dir.h"

namespace strata::model {
namespace {

using testing::ReferenceModel;
using testing::TinySpec;

struct Fixture {
  testing::TempDir dir;
  gguf::File file;
  std::unique_ptr<backend::cpu::CpuBackend> backend;
  std::unique_ptr<Model> model;
};

ModelConfig small_config(quant::Type kv_type = quant::Type::F32, uint32_t n_seq = 1, bool flash = true) {
  ModelConfig config;
  config.kv.n_ctx = 64 * n_seq;
  config.kv.n_seq = n_seq;
  config.kv.type_k = kv_type;
  config.kv.type_v = kv_type;
  config.flash_attn = flash;
  config.n_batch = 32;
  config.n_outputs = 32;
  return config;
}

std::unique_ptr<Fixture> load(const TinySpec& spec, const ModelConfig& config, int threads = 2) {
  auto f = std::make_unique<Fixture>();
  auto file = gguf::File::open(testing::write_tiny_model(spec, f->dir.path()));
  EXPECT_TRUE(file.ok()) << file.status().message();
  f->file = *file;
  f->backend = std::move(*backend::cpu::CpuBackend::create(threads));
  auto model = Model::load(f->file, *f->backend, config);
  EXPECT_TRUE(model.ok()) << model.status().message();
  if (model.ok()) f->model = std::move(*model);
  return f;
}


const std::vector<int32_t> kPrompt = {1, 17, 42, 5, 88, 63, 9, 30, 71, 2, 44};

void expect_matches_reference(const TinySpec& spec, const ModelConfig& config, double tolerance) {
  auto f = load(spec, config);
  ASSERT_NE(f->model, nullptr);
  TestBatch batch;
  for (size_t i = 0; i < kPrompt.size(); ++i) batch.add(kPrompt[i], static_cast<int32_t>(i), 0, true);
  ASSERT_TRUE(f->model->forward(batch.view()).ok());
  ASSERT_EQ(f->model->n_outputs(), kPrompt.size());

  ReferenceModel ref(f->file);
  const auto expected = ref.forward(kPrompt);
  for (size_t t = 0; t < kPrompt.size(); ++t) {
    EXPECT_LT(testing::max_abs_diff(f->model->logits(t), expected[t]), tolerance) << "position " << t;
  }
}

TEST(ModelTest, LlamaLogitsMatchReference) {
  expect_matches_reference(TinySpec{}, small_config(), 5e-4);
  expect_matches_reference(TinySpec{}, small_config(quant::Type::F32, 1, false), 5e-4);
}

TEST(ModelTest, Qwen2TiedEmbeddingsLogitsMatchReference) {
  TinySpec spec;
  spec.arch = Arch::kQwen2;
  spec.tied = true;
  expect_matches_reference(spec, small_config(), 5e-4);
}

TEST(ModelTest, QuantizedWeightsAndCacheStayCloseToReference) {
  TinySpec spec;
  spec.weight_type = quant::Type::Q8_0;
  spec.embd_type = quant::Type::Q4_0;
  spec.output_type = quant::Type::Q8_0;
  expect_matches_reference(spec, small_config(quant::Type::F16), 0.1);
  expect_matches_reference(spec, small_config(quant::Type::Q8_0), 0.2);
}

TEST(ModelTest, KQuantWeightsLoadAndRun) {
  TinySpec spec;
  spec.n_embd = 256;
  spec.n_head = 8;
  spec.n_head_kv = 4;
  spec.n_ff = 512;
  spec.weight_type = quant::Type::Q4_K;
  spec.output_type = quant::Type::Q6_K;
  expect_matches_reference(spec, small_config(quant::Type::F16), 0.6);
}

TEST(ModelTest, OneBatchEqualsTokenByToken) {
  for (quant::Type kv : {quant::Type::F32, quant::Type::F16, quant::Type::Q8_0, quant::Type::Q4_0}) {
    SCOPED_TRACE(std::string(quant::type_name(kv)));
    auto batched = load(TinySpec{}, small_config(kv));
    auto stepped = load(TinySpec{}, small_config(kv));
    TestBatch batch;
    for (size_t i = 0; i < kPrompt.size(); ++i) batch.add(kPrompt[i], static_cast<int32_t>(i), 0, true);
    ASSERT_TRUE(batched->model->forward(batch.view()).ok());
    const auto expected = all_logits(*batched->model);
    for (size_t i = 0; i < kPrompt.size(); ++i) {
      TestBatch one;
      one.add(kPrompt[i], static_cast<int32_t>(i), 0, true);
      ASSERT_TRUE(stepped->model->forward(one.view()).ok());
      EXPECT_LT(testing::max_abs_diff(stepped->model->logits(0), expected[i]), 1e-3) << "position " << i;
    }
    EXPECT_EQ(stepped->model->length(0), kPrompt.size());
  }
}

TEST(ModelTest, TwoSequencesInOneBatchEqualEachAlone) {
  const std::vector<int32_t> a = {1, 5, 9, 13, 17, 21};
  const std::vector<int32_t> b = {1, 80, 70, 60};
  auto alone = load(TinySpec{}, small_config(quant::Type::F16, 2));
  std::vector<std::vector<float>> expect_a, expect_b;
  for (auto [tokens, out] : {std::pair{&a, &expect_a}, std::pair{&b, &expect_b}}) {
    ASSERT_TRUE(alone->model->clear(0).ok());
    TestBatch batch;
    for (size_t i = 0; i < tokens->size(); ++i) batch.add((*tokens)[i], static_cast<int32_t>(i), 0, true);
    ASSERT_TRUE(alone->model->forward(batch.view()).ok());
    *out = all_logits(*alone->model);
  }

  // Interleaved, and the second sequence in slot 1.
  auto both = load(TinySpec{}, small_config(quant::Type::F16, 2));
  TestBatch batch;
  std::vector<std::pair<int, size_t>> order;  // (seq, index) of each output row
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    if (i < a.size()) batch.add(a[i], static_cast<int32_t>(i), 0, true), order.push_back({0, i});
    if (i < b.size()) batch.add(b[i], static_cast<int32_t>(i), 1, true), order.push_back({1, i});
  }
  ASSERT_TRUE(both->model->forward(batch.view()).ok());
  for (size_t r = 0; r < order.size(); ++r) {
    const auto& expected = order[r].first == 0 ? expect_a[order[r].second] : expect_b[order[r].second];
    EXPECT_LT(testing::max_abs_diff(both->model->logits(r), expected), 1e-3) << "row " << r;
  }
  EXPECT_EQ(both->model->length(0), a.size());
  EXPECT_EQ(both->model->length(1), b.size());

  // And one more token for each, decoded together.
  TestBatch next;
  next.add(3, static_cast<int32_t>(a.size()), 0, true);
  next.add(4, static_cast<int32_t>(b.size()), 1, true);
  ASSERT_TRUE(both->model->forward(next.view()).ok());
  const auto together = all_logits(*both->model);
  ReferenceModel ref(both->file);
  std::vector<int32_t> a2 = a;
  a2.push_back(3);
  EXPECT_LT(testing::max_abs_diff(together[0], ref.forward(a2).back()), 0.05);
  ref.reset();
  std::vector<int32_t> b2 = b;
  b2.push_back(4);
  EXPECT_LT(testing::max_abs_diff(together[1], ref.forward(b2).back()), 0.05);
}

TEST(ModelTest, CopyTrimAndClearReuseAPrefix) {
  auto f = load(TinySpec{}, small_config(quant::Type::F16, 2));
  TestBatch prompt;
  for (size_t i = 0; i < kPrompt.size(); ++i) prompt.add(kPrompt[i], static_cast<int32_t>(i), 0, i + 1 == kPrompt.size());
  ASSERT_TRUE(f->model->forward(prompt.view()).ok());

  // Sequence 1 reuses the first 6 cells of sequence 0, then continues differently.
  ASSERT_TRUE(f->model->copy(0, 1, 6).ok());
  EXPECT_EQ(f->model->length(1), 6u);
  TestBatch cont;
  cont.add(50, 6, 1, true);
  ASSERT_TRUE(f->model->forward(cont.view()).ok());
  const std::vector<float> reused(f->model->logits(0).begin(), f->model->logits(0).end());

  // Trim sequence 0 back to 6 cells and feed the same token: same logits.
  ASSERT_TRUE(f->model->trim(0, 6).ok());
  EXPECT_EQ(f->model->length(0), 6u);
  TestBatch same;
  same.add(50, 6, 0, true);
  ASSERT_TRUE(f->model->forward(same.view()).ok());
  EXPECT_LT(testing::max_abs_diff(f->model->logits(0), reused), 1e-6);

  // The reference agrees with prefix + 50.
  ReferenceModel ref(f->file);
  std::vector<int32_t> tokens(kPrompt.begin(), kPrompt.begin() + 6);
  tokens.push_back(50);
  EXPECT_LT(testing::max_abs_diff(reused, ref.forward(tokens).back()), 0.05);

  ASSERT_TRUE(f->model->clear(1).ok());
  EXPECT_EQ(f->model->length(1), 0u);
  EXPECT_EQ(f->model->length(0), 7u);
  EXPECT_FALSE(f->model->copy(0, 1, 8).ok());  // sequence 0 holds only 7
  EXPECT_FALSE(f->model->clear(2).ok());       // no such sequence
}

TEST(ModelTest, TwoStagesEqualOneStage) {
  TinySpec spec;
  spec.n_layer = 3;
  ModelConfig split = small_config();
  split.stages = {{0, 2}, {2, 3}};
  auto one = load(spec, small_config());
  auto two = load(spec, split);
  ASSERT_EQ(two->model->stages().size(), 2u);
  TestBatch batch;
  for (size_t i = 0; i < kPrompt.size(); ++i) batch.add(kPrompt[i], static_cast<int32_t>(i), 0, true);
  ASSERT_TRUE(one->model->forward(batch.view()).ok());
  ASSERT_TRUE(two->model->forward(batch.view()).ok());
  EXPECT_EQ(all_logits(*one->model), all_logits(*two->model));
}

TEST(ModelTest, BadStageRangesAreRefused) {
  TinySpec spec;
  spec.n_layer = 3;
  testing::TempDir dir;
  auto file = gguf::File::open(testing::write_tiny_model(spec, dir.path()));
  ASSERT_TRUE(file.ok());
  auto backend = std::move(*backend::cpu::CpuBackend::create(1));
  for (const std::vector<LayerRange>& ranges :
       {std::vector<LayerRange>{{0, 2}}, {{0, 1}, {2, 3}}, {{0, 2}, {1, 3}}, {{0, 4}}}) {
    ModelConfig config = small_config();
    config.stages = ranges;
    auto model = Model::load(*file, *backend, config);
    EXPECT_FALSE(model.ok());
  }
}

TEST(ModelTest, BadBatchesAreRefusedAndLeaveTheCacheAlone) {
  auto f = load(TinySpec{}, small_config());
  TestBatch good;
  good.add(1, 0, 0, true);
  ASSERT_TRUE(f->model->forward(good.view()).ok());

  TestBatch bad_token;
  bad_token.add(96, 1, 0, true);  // n_vocab is 96
  Status s = f->model->forward(bad_token.view());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("96"), std::string::npos) << s.message();

  TestBatch bad_pos;
  bad_pos.add(1, 5, 0, true);
  s = f->model->forward(bad_pos.view());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("position 1"), std::string::npos) << s.message();

  TestBatch bad_seq;
  bad_seq.add(1, 1, 3, true);
  EXPECT_FALSE(f->model->forward(bad_seq.view()).ok());

  TestBatch empty;
  EXPECT_FALSE(f->model->forward(empty.view()).ok());
  EXPECT_EQ(f->model->length(0), 1u);
}

TEST(ModelTest, FullSequenceIsRefused) {
  ModelConfig config = small_config();
  config.kv.n_ctx = 4;
  auto f = load(TinySpec{}, config);
  TestBatch batch;
  for (int i = 0; i < 4; ++i) batch.add(1 + i, i, 0, i == 3);
  ASSERT_TRUE(f->model->forward(batch.view()).ok());
  TestBatch more;
  more.add(2, 4, 0, true);
  Status s = f->model->forward(more.view());
  EXPECT_EQ(s.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(s.message().find("full"), std::string::npos) << s.message();
}

TEST(ModelTest, UnknownArchitectureIsRefused) {
  TinySpec spec;
  spec.architecture_name = "gpt2";
  testing::TempDir dir;
  auto file = gguf::File::open(testing::write_tiny_model(spec, dir.path()));
  ASSERT_TRUE(file.ok());
  auto backend = std::move(*backend::cpu::CpuBackend::create(1));
  auto model = Model::load(*file, *backend, small_config());
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("gpt2"), std::string::npos) << model.status().message();
  EXPECT_NE(model.status().message().find("llama"), std::string::npos) << model.status().message();
}

TEST(ModelTest, MemoryFigures) {
  auto f = load(TinySpec{}, small_config(quant::Type::F16));
  // 2 layers x 64 cells x (K + V) x 2 kv heads x 32 dims x 2 bytes.
  EXPECT_EQ(f->model->kv_bytes(), 2u * 64 * 2 * 64 * 2);
  uint64_t tensor_bytes = 0;
  for (const gguf::TensorInfo& t : f->file.tensors()) tensor_bytes += t.n_bytes;
  EXPECT_EQ(f->model->weight_bytes(), tensor_bytes);
}

}  // namespace
}  // namespace strata::model
