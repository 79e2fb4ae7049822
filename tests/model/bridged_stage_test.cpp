// BridgedStage: a model whose stages run on other CPU backends than the model's (hidden states
// through host staging) gives logits bit-identical to one Stage on one backend, for a prompt
// and decode steps of two sequences; sequence operations agree; a failed transfer leaves every
// cache as it was; bad uses are refused.
#include "model/bridged_stage.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "backend/cpu/cpu_backend.h"
#include "model/model.h"
#include "model/test_batch.h"
#include "model/tiny_model.h"
#include "support/forwarding_backend.h"
#include "support/temp_dir.h"

namespace strata::model {
namespace {

using testing::TinySpec;

// The CPU backend with write() that fails on demand: the bridge's transfer back to the model.
class FailingWriteBackend final : public testing::ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  Status write(void* d, const void* s, size_t n) override {
    if (fail_writes) return internal_error("test: write of {} bytes refused", n);
    return inner_.write(d, s, n);
  }
  bool fail_writes = false;
};


int32_t argmax(std::span<const float> row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

ModelConfig two_sequences() {
  ModelConfig config;
  config.kv.n_ctx = 128;
  config.kv.n_seq = 2;
  config.kv.type_k = quant::Type::F16;
  config.kv.type_v = quant::Type::Q8_0;
  config.n_batch = 32;
  config.n_outputs = 32;
  return config;
}

// The same tiny model twice: `one` as one Stage of every layer on one backend, `bridged` with
// layer 0 on a second CPU backend, layer 1 on the model's and layer 2 on a third: the layout of
// -ngl 2 with -ts 1,1 (CPU layers first, then two GPUs), with every device a CPU.
class BridgedStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TinySpec spec;
    spec.n_layer = 3;
    spec.weight_type = quant::Type::Q8_0;
    auto file = gguf::File::open(testing::write_tiny_model(spec, dir_.path()));
    ASSERT_TRUE(file.ok()) << file.status().message();
    file_ = *file;
    auto hp = read_hparams(file_);
    ASSERT_TRUE(hp.ok());
    hp_ = *hp;
    for (auto* b : {&one_backend_, &main_backend_, &first_backend_, &last_backend_}) {
      auto created = backend::cpu::CpuBackend::create(2);
      ASSERT_TRUE(created.ok()) << created.status().message();
      *b = std::move(*created);
    }
    flaky_ = std::make_unique<FailingWriteBackend>(*main_backend_);

    const ModelConfig config = two_sequences();
    auto one = Model::load(file_, *one_backend_, config);
    ASSERT_TRUE(one.ok()) << one.status().message();
    one_ = std::move(*one);

    auto stage_config = [&](LayerRange layers) {
      StageConfig sc;
      sc.layers = layers;
      sc.kv = config.kv;
      sc.flash_attn = config.flash_attn;
      sc.n_batch = config.n_batch;
      return sc;
    };
    std::vector<std::unique_ptr<StageRunner>> stages;
    auto first = BridgedStage::create(*flaky_, *first_backend_, file_, hp_, stage_config({0, 1}));
    ASSERT_TRUE(first.ok()) << first.status().message();
    first_ = first->get();
    stages.push_back(std::move(*first));
    auto middle = Stage::create(*flaky_, file_, hp_, stage_config({1, 2}));
    ASSERT_TRUE(middle.ok()) << middle.status().message();
    stages.push_back(std::move(*middle));
    auto last = BridgedStage::create(*flaky_, *last_backend_, file_, hp_, stage_config({2, 3}));
    ASSERT_TRUE(last.ok()) << last.status().message();
    stages.push_back(std::move(*last));
    auto bridged = Model::assemble(file_, *flaky_, config, std::move(stages));
    ASSERT_TRUE(bridged.ok()) << bridged.status().message();
    bridged_ = std::move(*bridged);
  }

  // Runs the batch on both models; their logits must be equal bit for bit.
  std::vector<std::vector<float>> forward_both(const TestBatch& batch) {
    const Status a = one_->forward(batch.view());
    const Status b = bridged_->forward(batch.view());
    EXPECT_TRUE(a.ok()) << a.message();
    EXPECT_TRUE(b.ok()) << b.message();
    const auto rows = all_logits(*one_);
    EXPECT_EQ(rows, all_logits(*bridged_));
    return rows;
  }

  void expect_same_lengths() {
    for (uint32_t seq = 0; seq < 2; ++seq) {
      EXPECT_EQ(one_->length(seq), bridged_->length(seq)) << "sequence " << seq;
      for (const auto& stage : bridged_->stages()) EXPECT_EQ(stage->length(seq), one_->length(seq));
    }
  }

  testing::TempDir dir_;
  gguf::File file_;
  HParams hp_;
  std::unique_ptr<backend::cpu::CpuBackend> one_backend_, main_backend_, first_backend_, last_backend_;
  std::unique_ptr<FailingWriteBackend> flaky_;
  std::unique_ptr<Model> one_;
  std::unique_ptr<Model> bridged_;
  BridgedStage* first_ = nullptr;
};

const std::vector<int32_t> kPrompt0 = {1, 17, 42, 5, 88, 63, 9, 30, 71, 2, 44};
const std::vector<int32_t> kPrompt1 = {3, 8, 60, 21, 77, 14, 90};

TEST_F(BridgedStageTest, PromptAndDecodeStepsOfTwoSequencesAreBitIdentical) {
  ASSERT_EQ(bridged_->stages().size(), 3u);
  EXPECT_EQ(bridged_->weight_bytes(), one_->weight_bytes());
  EXPECT_EQ(bridged_->kv_bytes(), one_->kv_bytes());
  EXPECT_EQ(bridged_->n_ctx_per_seq(), one_->n_ctx_per_seq());
  EXPECT_EQ(first_->layers().begin, 0u);
  EXPECT_EQ(first_->layers().end, 1u);
  EXPECT_EQ(&first_->stage_backend(), first_backend_.get());

  // Both prompts in one batch, interleaved, every row's logits.
  TestBatch prompt;
  for (size_t i = 0; i < std::max(kPrompt0.size(), kPrompt1.size()); ++i) {
    if (i < kPrompt0.size()) prompt.add(kPrompt0[i], static_cast<int32_t>(i), 0, true);
    if (i < kPrompt1.size()) prompt.add(kPrompt1[i], static_cast<int32_t>(i), 1, true);
  }
  std::vector<std::vector<float>> rows = forward_both(prompt);
  ASSERT_EQ(rows.size(), kPrompt0.size() + kPrompt1.size());
  expect_same_lengths();

  // Greedy decode steps, one token of each sequence per batch.
  int32_t next0 = argmax(rows.back());                   // sequence 0's prompt is the longer one
  int32_t next1 = argmax(rows[2 * kPrompt1.size() - 1]);  // sequence 1's last prompt row
  int32_t pos0 = static_cast<int32_t>(kPrompt0.size());
  int32_t pos1 = static_cast<int32_t>(kPrompt1.size());
  for (int step = 0; step < 6; ++step) {
    TestBatch batch;
    batch.add(next0, pos0++, 0, true);
    batch.add(next1, pos1++, 1, true);
    rows = forward_both(batch);
    ASSERT_EQ(rows.size(), 2u);
    next0 = argmax(rows[0]);
    next1 = argmax(rows[1]);
  }
  expect_same_lengths();
  EXPECT_EQ(bridged_->length(0), kPrompt0.size() + 6);
  EXPECT_EQ(bridged_->length(1), kPrompt1.size() + 6);
}

TEST_F(BridgedStageTest, ClearTrimAndCopyBehaveAsOnOneBackend) {
  TestBatch prompt;
  for (size_t i = 0; i < kPrompt0.size(); ++i) prompt.add(kPrompt0[i], static_cast<int32_t>(i), 0, false);
  for (size_t i = 0; i < kPrompt1.size(); ++i) prompt.add(kPrompt1[i], static_cast<int32_t>(i), 1, i == 6);
  forward_both(prompt);

  // Sequence 1 becomes the first 6 cells of sequence 0, then both continue.
  for (Model* m : {one_.get(), bridged_.get()}) {
    ASSERT_TRUE(m->clear(1).ok());
    EXPECT_EQ(m->length(1), 0u);
    ASSERT_TRUE(m->copy(0, 1, 6).ok());
    ASSERT_TRUE(m->trim(0, 8).ok());
  }
  expect_same_lengths();
  EXPECT_EQ(bridged_->length(0), 8u);
  EXPECT_EQ(bridged_->length(1), 6u);
  TestBatch cont;
  cont.add(50, 8, 0, true);
  cont.add(50, 6, 1, true);
  cont.add(51, 7, 1, true);
  const auto rows = forward_both(cont);
  ASSERT_EQ(rows.size(), 3u);
  expect_same_lengths();

  // Refusals agree too, and change nothing.
  for (Model* m : {one_.get(), bridged_.get()}) {
    EXPECT_FALSE(m->copy(0, 1, 100).ok());  // sequence 0 holds only 9
    EXPECT_FALSE(m->clear(2).ok());         // no such sequence
    EXPECT_FALSE(m->trim(5, 1).ok());
  }
  expect_same_lengths();
}

TEST_F(BridgedStageTest, FailedTransferBackLeavesEveryCacheAsItWas) {
  TestBatch prompt;
  for (size_t i = 0; i < kPrompt0.size(); ++i) prompt.add(kPrompt0[i], static_cast<int32_t>(i), 0, false);
  ASSERT_TRUE(bridged_->forward(prompt.view()).ok());
  ASSERT_TRUE(one_->forward(prompt.view()).ok());

  TestBatch step;
  step.add(50, static_cast<int32_t>(kPrompt0.size()), 0, true);
  flaky_->fail_writes = true;
  const Status failed = bridged_->forward(step.view());
  flaky_->fail_writes = false;
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("hidden states of layer 0 back"), std::string::npos) << failed.message();
  expect_same_lengths();  // no stage kept the failed token

  // And the next try gives what one backend gives.
  forward_both(step);
  expect_same_lengths();
}

TEST_F(BridgedStageTest, BadUsesAreRefused) {
  StageConfig sc;
  sc.layers = {0, 1};
  sc.kv = two_sequences().kv;
  sc.n_batch = 4;
  // The model's own backend: a plain Stage does that.
  auto same = BridgedStage::create(*main_backend_, *main_backend_, file_, hp_, sc);
  ASSERT_FALSE(same.ok());
  EXPECT_NE(same.status().message().find("plain Stage"), std::string::npos) << same.status().message();
  // Layers the file does not have.
  sc.layers = {2, 5};
  EXPECT_FALSE(BridgedStage::create(*main_backend_, *first_backend_, file_, hp_, sc).ok());

  // A batch larger than the one it was sized for.
  sc.layers = {0, 1};
  auto small = BridgedStage::create(*main_backend_, *first_backend_, file_, hp_, sc);
  ASSERT_TRUE(small.ok()) << small.status().message();
  std::vector<int32_t> positions = {0, 1, 2, 3, 4};
  std::vector<int32_t> seqs(5, 0);
  std::vector<float> hidden(5 * hp_.n_embd, 0.5f);
  const Status st = (*small)->forward({positions, seqs}, hidden.data());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("batch size 4"), std::string::npos) << st.message();
  EXPECT_EQ((*small)->length(0), 0u);
}

}  // namespace
}  // namespace strata::model
