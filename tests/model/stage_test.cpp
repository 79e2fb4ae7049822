// Stage: a layer range's forward pass against the double-precision textbook layer, chaining of
// stages, and the load-time checks of weights (missing tensor, wrong shape, wrong type).
#include "model/stage.h"

#include <gtest/gtest.h>

#include <random>

#include "backend/cpu/cpu_backend.h"
#include "model/tiny_model.h"
#include "support/temp_dir.h"

namespace strata::model {
namespace {

using testing::ReferenceModel;
using testing::TinySpec;

struct Loaded {
  testing::TempDir dir;
  gguf::File file;
  HParams hp;
  std::unique_ptr<backend::cpu::CpuBackend> backend;
};

std::unique_ptr<Loaded> load_tiny(const TinySpec& spec, int threads = 2) {
  auto loaded = std::make_unique<Loaded>();
  auto file = gguf::File::open(testing::write_tiny_model(spec, loaded->dir.path()));
  EXPECT_TRUE(file.ok()) << file.status().message();
  loaded->file = *file;
  auto hp = read_hparams(loaded->file);
  EXPECT_TRUE(hp.ok()) << hp.status().message();
  loaded->hp = *hp;
  loaded->backend = std::move(*backend::cpu::CpuBackend::create(threads));
  return loaded;
}

StageConfig config_for(LayerRange layers, quant::Type kv_type = quant::Type::F32, bool flash = true) {
  StageConfig config;
  config.layers = layers;
  config.kv.n_ctx = 64;
  config.kv.n_seq = 1;
  config.kv.type_k = kv_type;
  config.kv.type_v = kv_type;
  config.flash_attn = flash;
  config.n_batch = 16;
  return config;
}

std::vector<float> random_hidden(size_t n_tokens, size_t n_embd, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n_tokens * n_embd);
  for (float& v : x) v = normal(rng);
  return x;
}

// Runs `hidden` (n_tokens at positions 0..n-1 of sequence 0) through the stage and the reference.
void expect_stage_matches_reference(const TinySpec& spec, LayerRange layers, bool flash, double tolerance) {
  auto m = load_tiny(spec);
  auto stage = Stage::create(*m->backend, m->file, m->hp, config_for(layers, quant::Type::F32, flash));
  ASSERT_TRUE(stage.ok()) << stage.status().message();

  const size_t n = 7;
  std::vector<float> hidden = random_hidden(n, m->hp.n_embd, 11);
  std::vector<int32_t> pos(n), seq(n, 0);
  for (size_t i = 0; i < n; ++i) pos[i] = static_cast<int32_t>(i);
  ReferenceModel ref(m->file);
  std::vector<ReferenceModel::Vec> expected;
  for (size_t t = 0; t < n; ++t) {
    ReferenceModel::Vec x(hidden.begin() + t * m->hp.n_embd, hidden.begin() + (t + 1) * m->hp.n_embd);
    ref.layers(layers.begin, layers.end, x, t);
    expected.push_back(x);
  }
  ASSERT_TRUE((*stage)->forward({pos, seq}, hidden.data()).ok());
  for (size_t t = 0; t < n; ++t) {
    const std::span<const float> got(hidden.data() + t * m->hp.n_embd, m->hp.n_embd);
    EXPECT_LT(testing::max_abs_diff(got, expected[t]), tolerance) << "token " << t;
  }
  EXPECT_EQ((*stage)->kv_cache().length(0), n);
}

TEST(StageTest, LlamaLayersMatchReference) {
  expect_stage_matches_reference(TinySpec{}, {0, 2}, true, 2e-4);
  expect_stage_matches_reference(TinySpec{}, {0, 2}, false, 2e-4);
}

TEST(StageTest, Qwen2LayersWithBiasesAndNeoxRopeMatchReference) {
  TinySpec spec;
  spec.arch = Arch::kQwen2;
  spec.tied = true;
  expect_stage_matches_reference(spec, {0, 2}, true, 2e-4);
}

TEST(StageTest, RopeFreqFactorsMatchReference) {
  TinySpec spec;
  spec.rope_freqs = true;
  expect_stage_matches_reference(spec, {0, 2}, true, 2e-4);
}

TEST(StageTest, SecondLayerRangeAloneMatchesReference) {
  TinySpec spec;
  spec.n_layer = 3;
  expect_stage_matches_reference(spec, {1, 3}, true, 2e-4);
}

TEST(StageTest, QuantizedWeightsStayCloseToReference) {
  // Q8_0 weights multiply 8-bit activations: close to the float reference, not equal.
  TinySpec spec;
  spec.weight_type = quant::Type::Q8_0;
  expect_stage_matches_reference(spec, {0, 2}, true, 0.15);
}

TEST(StageTest, TwoChainedStagesEqualOneStage) {
  TinySpec spec;
  spec.n_layer = 4;
  auto m = load_tiny(spec);
  auto whole = Stage::create(*m->backend, m->file, m->hp, config_for({0, 4}));
  auto first = Stage::create(*m->backend, m->file, m->hp, config_for({0, 1}));
  auto second = Stage::create(*m->backend, m->file, m->hp, config_for({1, 4}));
  ASSERT_TRUE(whole.ok() && first.ok() && second.ok());
  EXPECT_EQ((*second)->layers().begin, 1u);
  EXPECT_EQ((*second)->layers().size(), 3u);

  const size_t n = 5;
  std::vector<int32_t> pos = {0, 1, 2, 3, 4}, seq(n, 0);
  std::vector<float> a = random_hidden(n, m->hp.n_embd, 3);
  std::vector<float> b = a;
  ASSERT_TRUE((*whole)->forward({pos, seq}, a.data()).ok());
  ASSERT_TRUE((*first)->forward({pos, seq}, b.data()).ok());
  ASSERT_TRUE((*second)->forward({pos, seq}, b.data()).ok());
  EXPECT_EQ(a, b);  // same ops in the same order: bit for bit
}

TEST(StageTest, BatchTooLargeOrPositionsWrongAreRefused) {
  auto m = load_tiny(TinySpec{});
  auto stage = Stage::create(*m->backend, m->file, m->hp, config_for({0, 2}));
  ASSERT_TRUE(stage.ok());
  std::vector<float> hidden = random_hidden(17, m->hp.n_embd, 1);
  std::vector<int32_t> pos(17), seq(17, 0);
  for (int i = 0; i < 17; ++i) pos[i] = i;
  Status too_big = (*stage)->forward({pos, seq}, hidden.data());
  EXPECT_FALSE(too_big.ok());
  EXPECT_NE(too_big.message().find("1 to 16"), std::string::npos) << too_big.message();

  std::vector<int32_t> gap = {0, 2}, seq2 = {0, 0};
  Status gapped = (*stage)->forward({gap, seq2}, hidden.data());
  EXPECT_FALSE(gapped.ok());
  EXPECT_NE(gapped.message().find("position 1"), std::string::npos) << gapped.message();
  EXPECT_EQ((*stage)->kv_cache().length(0), 0u);  // nothing was kept
}

TEST(StageTest, MissingTensorIsRefusedWithItsNameAndShape) {
  TinySpec spec;
  spec.skip_tensor = "blk.1.ffn_up.weight";
  auto m = load_tiny(spec);
  auto stage = Stage::create(*m->backend, m->file, m->hp, config_for({0, 2}));
  ASSERT_FALSE(stage.ok());
  EXPECT_NE(stage.status().message().find("blk.1.ffn_up.weight"), std::string::npos);
  EXPECT_NE(stage.status().message().find("[128, 192]"), std::string::npos) << stage.status().message();
  // A stage of the other layer does not need it.
  EXPECT_TRUE(Stage::create(*m->backend, m->file, m->hp, config_for({0, 1})).ok());
}

TEST(StageTest, WrongShapeIsRefusedWithExpectedShape) {
  TinySpec spec;
  spec.wrong_shape_tensor = "blk.0.attn_k.weight";
  auto m = load_tiny(spec);
  auto stage = Stage::create(*m->backend, m->file, m->hp, config_for({0, 2}));
  ASSERT_FALSE(stage.ok());
  const std::string& msg = stage.status().message();
  EXPECT_NE(msg.find("blk.0.attn_k.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[128, 65]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[128, 64]"), std::string::npos) << msg;
}

TEST(StageTest, NonF32NormWeightIsRefused) {
  TinySpec spec;
  spec.vector_type = quant::Type::F16;
  auto m = load_tiny(spec);
  auto stage = Stage::create(*m->backend, m->file, m->hp, config_for({0, 2}));
  ASSERT_FALSE(stage.ok());
  EXPECT_NE(stage.status().message().find("blk.0.attn_norm.weight"), std::string::npos) << stage.status().message();
  EXPECT_NE(stage.status().message().find("must be f32"), std::string::npos) << stage.status().message();
}

TEST(StageTest, QuantizedCacheWorksAtHeadDim32) {
  auto m = load_tiny(TinySpec{});
  StageConfig config = config_for({0, 2});
  config.kv.type_k = quant::Type::Q8_0;
  config.kv.type_v = quant::Type::Q4_0;
  EXPECT_TRUE(Stage::create(*m->backend, m->file, m->hp, config).ok());
}

TEST(StageTest, QuantizedCacheNeedsHeadDimMultipleOf32) {
  TinySpec spec;
  spec.n_embd = 64;  // head dim 16
  spec.n_head = 4;
  spec.n_ff = 96;
  auto m = load_tiny(spec);
  StageConfig config = config_for({0, 2});
  config.kv.type_v = quant::Type::Q8_0;
  auto stage = Stage::create(*m->backend, m->file, m->hp, config);
  ASSERT_FALSE(stage.ok());
  EXPECT_NE(stage.status().message().find("f32, f16, bf16"), std::string::npos) << stage.status().message();
}

TEST(StageTest, ScratchIsSizedAtLoad) {
  auto m = load_tiny(TinySpec{});
  auto stage = Stage::create(*m->backend, m->file, m->hp, config_for({0, 2}));
  ASSERT_TRUE(stage.ok());
  // 16 tokens x (2 x 128 + 4 x 128 + 2 x 64 ... ) floats: at least the hidden-state sized parts.
  EXPECT_GE((*stage)->scratch_bytes(), 16u * (2 * 128 + 2 * 128 + 2 * 64 + 2 * 192) * sizeof(float));
  EXPECT_GT((*stage)->weight_bytes(), 0u);
}

}  // namespace
}  // namespace strata::model
