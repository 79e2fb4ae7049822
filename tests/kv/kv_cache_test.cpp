// KvCache: creation checks, batch position rules, and clear / trim / copy on real cell bytes.
#include "kv/kv_cache.h"

#include <gtest/gtest.h>

#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "kv/cache_type.h"

namespace strata::kv {
namespace {

std::unique_ptr<backend::cpu::CpuBackend> cpu() { return std::move(*backend::cpu::CpuBackend::create(1)); }

KvConfig config(uint64_t n_ctx, uint32_t n_seq, quant::Type k = quant::Type::F16, quant::Type v = quant::Type::F16) {
  KvConfig c;
  c.n_ctx = n_ctx;
  c.n_seq = n_seq;
  c.type_k = k;
  c.type_v = v;
  return c;
}

const KvShape kShape{2, 2, 64, 64};  // 2 layers, 2 KV heads of 64

TEST(KvCacheTest, EveryPairIsCreatedWithItsRowSizes) {
  auto backend = cpu();
  for (quant::Type k : cache_types()) {
    for (quant::Type v : cache_types()) {
      auto cache = KvCache::create(*backend, kShape, config(32, 2, k, v));
      ASSERT_TRUE(cache.ok()) << quant::type_name(k) << "/" << quant::type_name(v) << ": " << cache.status().message();
      EXPECT_EQ(cache->k_row_bytes(), *quant::row_bytes(k, 128));
      EXPECT_EQ(cache->v_row_bytes(), *quant::row_bytes(v, 128));
      EXPECT_EQ(cache->n_ctx_per_seq(), 16u);
      EXPECT_EQ(cache->memory().total_bytes(), 32u * 2 * (cache->k_row_bytes() + cache->v_row_bytes()));
    }
  }
}

TEST(KvCacheTest, QuantizedTypeWithHeadDim80IsRefusedWithTheTypesThatWork) {
  auto backend = cpu();
  auto cache = KvCache::create(*backend, KvShape{2, 2, 80, 80}, config(32, 1, quant::Type::Q4_0, quant::Type::F16));
  ASSERT_FALSE(cache.ok());
  const std::string& msg = cache.status().message();
  EXPECT_NE(msg.find("q4_0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("80"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32, f16, bf16"), std::string::npos) << msg;
  EXPECT_TRUE(KvCache::create(*backend, KvShape{2, 2, 80, 80}, config(32, 1, quant::Type::BF16, quant::Type::F16)).ok());
}

TEST(KvCacheTest, ContextSmallerThanSequencesIsRefused) {
  auto backend = cpu();
  EXPECT_FALSE(KvCache::create(*backend, kShape, config(2, 4)).ok());
  EXPECT_FALSE(KvCache::create(*backend, kShape, config(0, 1)).ok());
}

TEST(KvCacheTest, BatchPositionsMustContinueEachSequence) {
  auto backend = cpu();
  auto cache = std::move(*KvCache::create(*backend, kShape, config(16, 2)));
  const std::vector<int32_t> seq = {0, 1, 0, 1, 0};
  const std::vector<int32_t> pos = {0, 0, 1, 1, 2};
  ASSERT_TRUE(cache.check_batch(seq, pos).ok());
  cache.commit_batch(seq, pos);
  EXPECT_EQ(cache.length(0), 3u);
  EXPECT_EQ(cache.length(1), 2u);

  EXPECT_TRUE(cache.check_batch(std::vector<int32_t>{1}, std::vector<int32_t>{2}).ok());
  Status repeat = cache.check_batch(std::vector<int32_t>{0}, std::vector<int32_t>{2});
  EXPECT_FALSE(repeat.ok());
  EXPECT_NE(repeat.message().find("position 3"), std::string::npos) << repeat.message();
  EXPECT_FALSE(cache.check_batch(std::vector<int32_t>{0, 0}, std::vector<int32_t>{4, 3}).ok());
  EXPECT_FALSE(cache.check_batch(std::vector<int32_t>{2}, std::vector<int32_t>{0}).ok());   // no sequence 2
  EXPECT_FALSE(cache.check_batch(std::vector<int32_t>{-1}, std::vector<int32_t>{0}).ok());
  EXPECT_FALSE(cache.check_batch(std::vector<int32_t>{0, 1}, std::vector<int32_t>{3}).ok());  // sizes differ
}

TEST(KvCacheTest, FullSequenceIsRefused) {
  auto backend = cpu();
  auto cache = std::move(*KvCache::create(*backend, kShape, config(8, 2)));
  std::vector<int32_t> seq(4, 1), pos = {0, 1, 2, 3};
  ASSERT_TRUE(cache.check_batch(seq, pos).ok());
  cache.commit_batch(seq, pos);
  Status full = cache.check_batch(std::vector<int32_t>{1}, std::vector<int32_t>{4});
  EXPECT_EQ(full.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(full.message().find("-c 8"), std::string::npos) << full.message();
  EXPECT_TRUE(cache.check_batch(std::vector<int32_t>{0}, std::vector<int32_t>{0}).ok());  // the other is free
}

TEST(KvCacheTest, SequencesOwnSeparateCells) {
  auto backend = cpu();
  auto cache = std::move(*KvCache::create(*backend, kShape, config(16, 4)));
  const auto* base = static_cast<const uint8_t*>(cache.k_cell(0, 0, 0));
  EXPECT_EQ(static_cast<const uint8_t*>(cache.k_cell(0, 1, 0)) - base,
            static_cast<ptrdiff_t>(4 * cache.k_row_bytes()));
  EXPECT_EQ(static_cast<const uint8_t*>(cache.k_cell(0, 3, 2)) - base,
            static_cast<ptrdiff_t>(14 * cache.k_row_bytes()));
  EXPECT_NE(cache.k_cell(1, 0, 0), cache.k_cell(0, 0, 0));
}

TEST(KvCacheTest, ClearTrimAndCopy) {
  auto backend = cpu();
  auto cache = std::move(*KvCache::create(*backend, kShape, config(32, 2, quant::Type::Q8_0, quant::Type::Q4_0)));
  // Fill 5 cells of sequence 0 in every layer with recognisable bytes.
  std::vector<int32_t> seq(5, 0), pos = {0, 1, 2, 3, 4};
  ASSERT_TRUE(cache.check_batch(seq, pos).ok());
  for (uint32_t il = 0; il < 2; ++il) {
    for (uint64_t c = 0; c < 5; ++c) {
      std::memset(cache.k_cell(il, 0, c), static_cast<int>(10 * il + c + 1), cache.k_row_bytes());
      std::memset(cache.v_cell(il, 0, c), static_cast<int>(100 + 10 * il + c), cache.v_row_bytes());
    }
  }
  cache.commit_batch(seq, pos);

  ASSERT_TRUE(cache.copy(0, 1, 3).ok());
  EXPECT_EQ(cache.length(1), 3u);
  for (uint32_t il = 0; il < 2; ++il) {
    for (uint64_t c = 0; c < 3; ++c) {
      EXPECT_EQ(std::memcmp(cache.k_cell(il, 1, c), cache.k_cell(il, 0, c), cache.k_row_bytes()), 0);
      EXPECT_EQ(std::memcmp(cache.v_cell(il, 1, c), cache.v_cell(il, 0, c), cache.v_row_bytes()), 0);
    }
  }
  // Sequence 1 continues at position 3.
  EXPECT_TRUE(cache.check_batch(std::vector<int32_t>{1}, std::vector<int32_t>{3}).ok());
  EXPECT_FALSE(cache.copy(0, 1, 6).ok());  // only 5 cells
  EXPECT_FALSE(cache.copy(0, 2, 1).ok());  // no sequence 2

  ASSERT_TRUE(cache.trim(0, 2).ok());
  EXPECT_EQ(cache.length(0), 2u);
  ASSERT_TRUE(cache.trim(0, 10).ok());  // beyond the length: nothing changes
  EXPECT_EQ(cache.length(0), 2u);
  EXPECT_TRUE(cache.check_batch(std::vector<int32_t>{0}, std::vector<int32_t>{2}).ok());

  ASSERT_TRUE(cache.clear(1).ok());
  EXPECT_EQ(cache.length(1), 0u);
  EXPECT_EQ(cache.length(0), 2u);
  EXPECT_FALSE(cache.clear(5).ok());
  EXPECT_FALSE(cache.trim(5, 0).ok());
  cache.clear_all();
  EXPECT_EQ(cache.length(0), 0u);
}

}  // namespace
}  // namespace strata::kv
