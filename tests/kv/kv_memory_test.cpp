// KV cache memory estimates, checked against numbers worked out by hand.
#include "kv/kv_memory.h"

#include <gtest/gtest.h>

#include <string>

namespace strata::kv {
namespace {

using quant::Type;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

// Llama-3 8B: 32 layers, 8 KV heads of 128 -> n_embd_k_gqa = n_embd_v_gqa = 1024.
const KvShape kLlama3_8B{32, 8, 128, 128};

KvMemory estimate(const KvShape& shape, uint64_t n_ctx, uint32_t n_seq, Type k, Type v) {
  auto result = estimate_kv_memory(shape, KvConfig{n_ctx, n_seq, k, v});
  EXPECT_TRUE(result.ok()) << result.status().message();
  return result.ok() ? *result : KvMemory{};
}

TEST(KvMemory, Llama3_8B_F16At8192IsOneGiB) {
  // 8192 cells x 32 layers x 1024 values x 2 bytes = 512 MiB each for K and V.
  const KvMemory m = estimate(kLlama3_8B, 8192, 1, Type::F16, Type::F16);
  EXPECT_EQ(m.k_row_bytes, 2048u);
  EXPECT_EQ(m.v_row_bytes, 2048u);
  EXPECT_EQ(m.k_bytes, 512 * kMiB);
  EXPECT_EQ(m.v_bytes, 512 * kMiB);
  EXPECT_EQ(m.total_bytes(), kGiB);
  EXPECT_EQ(m.n_ctx_per_seq, 8192u);
}

TEST(KvMemory, Q8_0Is34BytesPer32Values) {
  // 1024 values = 32 blocks x 34 bytes = 1088 bytes per cell and layer.
  const KvMemory m = estimate(kLlama3_8B, 8192, 1, Type::Q8_0, Type::Q8_0);
  EXPECT_EQ(m.k_row_bytes, 1088u);
  EXPECT_EQ(m.k_bytes, uint64_t{8192} * 32 * 1088);
  EXPECT_EQ(m.k_bytes, 272 * kMiB);
  EXPECT_EQ(m.total_bytes(), 544 * kMiB);
}

TEST(KvMemory, MixedPairAddsEachSide) {
  // q4_0: 18 bytes per 32 values -> 576 bytes per 1024; f32: 4096.
  const KvMemory m = estimate(kLlama3_8B, 4096, 1, Type::Q8_0, Type::Q4_0);
  EXPECT_EQ(m.k_bytes, uint64_t{4096} * 32 * 1088);
  EXPECT_EQ(m.v_bytes, uint64_t{4096} * 32 * 576);
  const KvMemory f = estimate(kLlama3_8B, 4096, 1, Type::F32, Type::BF16);
  EXPECT_EQ(f.k_bytes, 512 * kMiB);
  EXPECT_EQ(f.v_bytes, 256 * kMiB);
}

TEST(KvMemory, EveryTypeMatchesItsBlockGeometry) {
  // Bytes per 32 values: f32 128, f16/bf16 64, q8_0 34, q5_1 24, q5_0 22, q4_1 20, q4_0 18, iq4_nl 18.
  const std::pair<Type, uint64_t> per32[] = {{Type::F32, 128}, {Type::F16, 64},  {Type::BF16, 64},
                                             {Type::Q8_0, 34}, {Type::Q5_1, 24}, {Type::Q5_0, 22},
                                             {Type::Q4_1, 20}, {Type::Q4_0, 18}, {Type::IQ4_NL, 18}};
  for (const auto& [type, bytes] : per32) {
    const KvMemory m = estimate(kLlama3_8B, 1000, 1, type, type);
    EXPECT_EQ(m.k_row_bytes, bytes * 32) << quant::type_name(type);
    EXPECT_EQ(m.total_bytes(), 2 * uint64_t{1000} * 32 * bytes * 32) << quant::type_name(type);
  }
}

TEST(KvMemory, ParallelSharesTheContext) {
  // -np does not change the size; it splits the cells between sequences.
  const KvMemory one = estimate(kLlama3_8B, 8192, 1, Type::F16, Type::F16);
  const KvMemory four = estimate(kLlama3_8B, 8192, 4, Type::F16, Type::F16);
  EXPECT_EQ(four.total_bytes(), one.total_bytes());
  EXPECT_EQ(four.n_ctx_per_seq, 2048u);
  EXPECT_EQ(estimate(kLlama3_8B, 1000, 3, Type::F16, Type::F16).n_ctx_per_seq, 333u);
  EXPECT_EQ(estimate(kLlama3_8B, 4, 4, Type::F16, Type::F16).n_ctx_per_seq, 1u);
}

TEST(KvMemory, SeparateKAndVHeadDims) {
  // K head 192, V head 128 (as some models have): rows of 192 and 128 values per KV head.
  const KvShape shape{2, 4, 192, 128};
  const KvMemory m = estimate(shape, 100, 1, Type::F16, Type::Q8_0);
  EXPECT_EQ(m.k_row_bytes, 192u * 4 * 2);
  EXPECT_EQ(m.v_row_bytes, 128u * 4 / 32 * 34);
  EXPECT_EQ(m.k_bytes, 100u * 2 * 192 * 4 * 2);
}

TEST(KvMemory, ContextSmallerThanSequencesIsRefused) {
  auto r = estimate_kv_memory(kLlama3_8B, KvConfig{2, 4, Type::F16, Type::F16});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("(-c) 2"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("-np) 4"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("use -c 4 or more"), std::string::npos) << r.status().message();
}

TEST(KvMemory, ZeroContextOrSequencesIsRefused) {
  EXPECT_FALSE(estimate_kv_memory(kLlama3_8B, KvConfig{0, 1, Type::F16, Type::F16}).ok());
  EXPECT_FALSE(estimate_kv_memory(kLlama3_8B, KvConfig{16, 0, Type::F16, Type::F16}).ok());
  EXPECT_FALSE(estimate_kv_memory(KvShape{0, 8, 128, 128}, KvConfig{16, 1, Type::F16, Type::F16}).ok());
  EXPECT_FALSE(estimate_kv_memory(KvShape{32, 0, 128, 128}, KvConfig{16, 1, Type::F16, Type::F16}).ok());
}

TEST(KvMemory, QuantizedTypeNeedsFittingHeadDim) {
  const KvShape hd80{24, 8, 80, 80};
  EXPECT_TRUE(estimate_kv_memory(hd80, KvConfig{4096, 1, Type::F16, Type::BF16}).ok());
  auto k = estimate_kv_memory(hd80, KvConfig{4096, 1, Type::Q8_0, Type::F16});
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("K cache type q8_0"), std::string::npos) << k.status().message();
  EXPECT_NE(k.status().message().find("f32, f16, bf16"), std::string::npos) << k.status().message();
  auto v = estimate_kv_memory(hd80, KvConfig{4096, 1, Type::F16, Type::IQ4_NL});
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("V cache type iq4_nl"), std::string::npos) << v.status().message();
}

TEST(KvMemory, NonCacheTypeIsRefused) {
  auto r = estimate_kv_memory(kLlama3_8B, KvConfig{16, 1, Type::Q4_K, Type::F16});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a KV cache type"), std::string::npos) << r.status().message();
}

TEST(KvMemory, HugeContextOverflowIsAnErrorNotAWrap) {
  const KvShape shape{UINT32_MAX, UINT32_MAX, 128, 128};
  auto r = estimate_kv_memory(shape, KvConfig{UINT64_MAX / 2, 1, Type::F32, Type::F32});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("overflows"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace strata::kv
