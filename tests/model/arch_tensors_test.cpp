// Tensor lists of llama, qwen2 and tied-embedding models: names, shapes, order.
#include "model/arch_tensors.h"

#include <gtest/gtest.h>

#include <map>

namespace strata::model {
namespace {

HParams tiny_llama() {
  HParams hp;
  hp.arch = Arch::kLlama;
  hp.n_vocab = 512;
  hp.n_embd = 256;
  hp.n_layer = 4;
  hp.n_head = 4;
  hp.n_head_kv = 2;
  hp.n_ff = 768;
  return hp;
}

std::map<std::string, std::vector<uint64_t>> by_name(const std::vector<TensorSpec>& list) {
  std::map<std::string, std::vector<uint64_t>> m;
  for (const TensorSpec& t : list) m[t.name] = t.ne;
  return m;
}

TEST(ArchTensors, LlamaNamesShapesAndOrder) {
  auto list = arch_tensors(tiny_llama());
  ASSERT_TRUE(list.ok()) << list.status().message();
  // token_embd + 9 per block + output_norm + output
  EXPECT_EQ(list->size(), 1u + 9u * 4u + 2u);
  EXPECT_EQ(list->front().name, "token_embd.weight");
  EXPECT_EQ(list->back().name, "output.weight");

  auto m = by_name(*list);
  using V = std::vector<uint64_t>;
  EXPECT_EQ(m["token_embd.weight"], (V{256, 512}));
  EXPECT_EQ(m["output.weight"], (V{256, 512}));
  EXPECT_EQ(m["output_norm.weight"], (V{256}));
  EXPECT_EQ(m["blk.0.attn_norm.weight"], (V{256}));
  EXPECT_EQ(m["blk.0.attn_q.weight"], (V{256, 256}));
  EXPECT_EQ(m["blk.0.attn_k.weight"], (V{256, 128}));  // 2 KV heads of 64
  EXPECT_EQ(m["blk.0.attn_v.weight"], (V{256, 128}));
  EXPECT_EQ(m["blk.3.attn_output.weight"], (V{256, 256}));
  EXPECT_EQ(m["blk.3.ffn_norm.weight"], (V{256}));
  EXPECT_EQ(m["blk.3.ffn_gate.weight"], (V{256, 768}));
  EXPECT_EQ(m["blk.3.ffn_up.weight"], (V{256, 768}));
  EXPECT_EQ(m["blk.3.ffn_down.weight"], (V{768, 256}));
  EXPECT_EQ(m.count("blk.0.attn_q.bias"), 0u);
  EXPECT_EQ(m.count("rope_freqs.weight"), 0u);
  EXPECT_EQ(m.count("blk.4.attn_q.weight"), 0u);

  // Blocks are contiguous and in layer order, so a layer range is a run of the list.
  int32_t last_layer = -1;
  for (const TensorSpec& t : *list) {
    if (t.layer < 0) continue;
    EXPECT_GE(t.layer, last_layer) << t.name;
    last_layer = t.layer;
    EXPECT_EQ(t.name.rfind("blk." + std::to_string(t.layer) + ".", 0), 0u) << t.name;
  }
}

TEST(ArchTensors, Qwen2HasQkvBiases) {
  HParams hp = tiny_llama();
  hp.arch = Arch::kQwen2;
  auto list = arch_tensors(hp);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u + 12u * 4u + 2u);
  auto m = by_name(*list);
  using V = std::vector<uint64_t>;
  EXPECT_EQ(m["blk.1.attn_q.bias"], (V{256}));
  EXPECT_EQ(m["blk.1.attn_k.bias"], (V{128}));
  EXPECT_EQ(m["blk.1.attn_v.bias"], (V{128}));
  for (const TensorSpec& t : *list) {
    if (t.name.ends_with(".bias")) {
      EXPECT_TRUE(t.is_vector()) << t.name;
    }
  }
}

TEST(ArchTensors, TiedEmbeddingsHaveNoOutput) {
  HParams hp = tiny_llama();
  hp.tied_embeddings = true;
  auto list = arch_tensors(hp);
  ASSERT_TRUE(list.ok());
  auto m = by_name(*list);
  EXPECT_EQ(m.count("output.weight"), 0u);
  EXPECT_EQ(m.count("output_norm.weight"), 1u);
  EXPECT_EQ(list->size(), 1u + 9u * 4u + 1u);
}

TEST(ArchTensors, RopeFreqsWhenAsked) {
  ArchTensorOptions options;
  options.rope_freqs = true;
  auto list = arch_tensors(tiny_llama(), options);
  ASSERT_TRUE(list.ok());
  auto m = by_name(*list);
  EXPECT_EQ(m["rope_freqs.weight"], (std::vector<uint64_t>{32}));  // head size 64 / 2
}

TEST(ArchTensors, ExplicitHeadSizes) {
  HParams hp = tiny_llama();
  hp.head_dim_k = 128;  // wider heads than n_embd / n_head, as some models have
  hp.head_dim_v = 96;
  auto list = arch_tensors(hp);
  ASSERT_TRUE(list.ok());
  auto m = by_name(*list);
  using V = std::vector<uint64_t>;
  EXPECT_EQ(m["blk.0.attn_q.weight"], (V{256, 512}));
  EXPECT_EQ(m["blk.0.attn_k.weight"], (V{256, 256}));
  EXPECT_EQ(m["blk.0.attn_v.weight"], (V{256, 192}));
  EXPECT_EQ(m["blk.0.attn_output.weight"], (V{384, 256}));
}

TEST(ArchTensors, ImpossibleShapesAreErrors) {
  HParams hp = tiny_llama();
  hp.n_head_kv = 3;
  auto bad_kv = arch_tensors(hp);
  ASSERT_FALSE(bad_kv.ok());
  EXPECT_NE(bad_kv.status().message().find("n_head_kv 3"), std::string::npos) << bad_kv.status().message();

  hp = tiny_llama();
  hp.n_head = 3;
  hp.n_head_kv = 1;
  auto bad_head = arch_tensors(hp);
  ASSERT_FALSE(bad_head.ok());
  EXPECT_NE(bad_head.status().message().find("n_embd 256"), std::string::npos);

  hp = tiny_llama();
  hp.n_layer = 0;
  EXPECT_FALSE(arch_tensors(hp).ok());
  hp = tiny_llama();
  hp.n_vocab = 0;
  EXPECT_FALSE(arch_tensors(hp).ok());
}

}  // namespace
}  // namespace strata::model
