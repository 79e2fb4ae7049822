// Layer placement: by offered memory, by -ts ratios (with or without the coordinator's share),
// and the refusals that name the worker.
#include "dist/placement.h"

#include <gtest/gtest.h>

#include "dist/distributed_model.h"
#include "model/synth.h"
#include "support/temp_dir.h"

namespace strata::dist {
namespace {

gguf::File synth_file(const testing::TempDir& dir, uint32_t n_layer) {
  model::SynthOptions synth;
  synth.hparams = *model::synth_preset("tiny", model::Arch::kLlama);
  synth.hparams.n_layer = n_layer;
  synth.target = *model::parse_quant_target("f16");
  EXPECT_TRUE(model::synth_model(synth, dir / "m.gguf").ok());
  return *gguf::File::open(dir / "m.gguf");
}

model::ModelConfig small_config() {
  model::ModelConfig c;
  c.kv.n_ctx = 256;
  return c;
}

TEST(PlacementTest, ByOfferedMemory) {
  testing::TempDir dir;
  const gguf::File file = synth_file(dir, 8);
  PlacementInput in{{"a:1", "b:2"}, {uint64_t{3} << 30, uint64_t{1} << 30}, {}};
  auto p = place_layers(file, small_config(), in);
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_EQ(p->nodes.size(), 3u);
  EXPECT_EQ(p->nodes[0].layers.size(), 0u);
  EXPECT_EQ(p->nodes[1].layers.begin, 0u);
  EXPECT_EQ(p->nodes[1].layers.end, 6u);
  EXPECT_EQ(p->nodes[2].layers.end, 8u);
  EXPECT_GT(p->nodes[1].weight_bytes, p->nodes[2].weight_bytes);
  EXPECT_NE(p->to_text().find("layers 6-7"), std::string::npos) << p->to_text();
}

TEST(PlacementTest, TensorSplitWithAndWithoutTheCoordinator) {
  testing::TempDir dir;
  const gguf::File file = synth_file(dir, 8);
  PlacementInput in{{"a:1", "b:2"}, {uint64_t{1} << 30, uint64_t{1} << 30}, {1, 3}};
  auto p = place_layers(file, small_config(), in);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->nodes[1].layers.end, 2u);
  in.tensor_split = {2, 1, 1};
  p = place_layers(file, small_config(), in);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->nodes[0].layers.end, 4u);
  EXPECT_EQ(p->nodes[1].layers.begin, 4u);
  in.tensor_split = {1, 1, 1, 1};
  EXPECT_EQ(place_layers(file, small_config(), in).status().code(), ErrorCode::kInvalidArgument);
  in.tensor_split = {0, 0};
  EXPECT_FALSE(place_layers(file, small_config(), in).ok());
}

TEST(PlacementTest, NotEnoughMemoryNamesTheWorker) {
  testing::TempDir dir;
  const gguf::File file = synth_file(dir, 8);
  PlacementInput in{{"a:1", "small:2"}, {uint64_t{1} << 30, 100000}, {1, 1}};
  auto p = place_layers(file, small_config(), in);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("small:2"), std::string::npos) << p.status().message();
  EXPECT_NE(p.status().message().find("--mem"), std::string::npos) << p.status().message();
}

TEST(PlacementTest, ParsesListsStrictly) {
  EXPECT_EQ(*parse_tensor_split("3,1"), (std::vector<double>{3, 1}));
  EXPECT_EQ(*parse_tensor_split("1/2/1"), (std::vector<double>{1, 2, 1}));
  EXPECT_FALSE(parse_tensor_split("1,,2").ok());
  EXPECT_FALSE(parse_tensor_split("-1,2").ok());
  EXPECT_EQ(*parse_worker_list("a:1, b:2"), (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_FALSE(parse_worker_list("a:1,b").ok());
  EXPECT_FALSE(parse_worker_list("a:99999").ok());
}

}  // namespace
}  // namespace strata::dist
