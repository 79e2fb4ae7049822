// fill_random_row: valid blocks, values in range with the expected moments, determinism.
#include "quant/random_blocks.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/convert.h"

namespace strata::quant {
namespace {

const Type kTypes[] = {Type::F32,  Type::F16,  Type::BF16, Type::Q4_0, Type::Q4_1,
                       Type::Q5_0, Type::Q5_1, Type::Q8_0, Type::Q2_K, Type::Q3_K,
                       Type::Q4_K, Type::Q5_K, Type::Q6_K, Type::IQ4_NL, Type::IQ4_XS};

constexpr int64_t kN = 1 << 16;

std::vector<uint8_t> random_row(Type type, uint64_t seed, float scale, int64_t n = kN) {
  std::vector<uint8_t> bytes(row_bytes(type, static_cast<uint64_t>(n)).value());
  EXPECT_TRUE(fill_random_row(type, seed, scale, bytes.data(), n).ok()) << type_name(type);
  return bytes;
}

std::vector<float> dequantized(Type type, const std::vector<uint8_t>& bytes, int64_t n = kN) {
  std::vector<float> out(static_cast<size_t>(n));
  EXPECT_TRUE(dequantize_row(type, bytes.data(), out.data(), n).ok()) << type_name(type);
  return out;
}

class RandomRowTest : public ::testing::TestWithParam<Type> {};

TEST_P(RandomRowTest, ValuesAreFiniteInRangeWithUniformMoments) {
  const Type type = GetParam();
  for (const float scale : {1.0f, 0.02f, 300.f}) {
    const std::vector<float> v = dequantized(type, random_row(type, 42, scale));
    double sum = 0, sum2 = 0;
    float lo = 0, hi = 0;
    for (float x : v) {
      ASSERT_TRUE(std::isfinite(x)) << type_name(type);
      sum += x;
      sum2 += static_cast<double>(x) * x;
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    const double mean = sum / kN;
    const double stddev = std::sqrt(sum2 / kN - mean * mean);
    const std::string what = std::string(type_name(type)) + " scale " + std::to_string(scale);
    EXPECT_GE(lo, -scale * 1.01f) << what;
    EXPECT_LE(hi, scale * 1.01f) << what;
    // The range is actually used: extremes reach most of the way to +-scale.
    EXPECT_LE(lo, -scale * 0.8f) << what;
    EXPECT_GE(hi, scale * 0.8f) << what;
    EXPECT_NEAR(mean, 0.0, 0.02 * scale) << what;
    const double uniform_std = scale / std::sqrt(3.0);
    EXPECT_NEAR(stddev, uniform_std, 0.2 * uniform_std) << what;
  }
}

TEST_P(RandomRowTest, DeterministicInSeedAndSeedsDiffer) {
  const Type type = GetParam();
  const std::vector<uint8_t> a = random_row(type, 7, 1.f, 4096);
  const std::vector<uint8_t> b = random_row(type, 7, 1.f, 4096);
  const std::vector<uint8_t> c = random_row(type, 8, 1.f, 4096);
  EXPECT_EQ(a, b) << type_name(type);
  EXPECT_NE(a, c) << type_name(type);
  // Most values differ between seeds, not just a few bytes.
  const std::vector<float> fa = dequantized(type, a, 4096);
  const std::vector<float> fc = dequantized(type, c, 4096);
  int same = 0;
  for (size_t i = 0; i < fa.size(); ++i) same += fa[i] == fc[i];
  EXPECT_LT(same, 4096 / 4) << type_name(type);
}

TEST_P(RandomRowTest, UnalignedDestinationGivesTheSameBytes) {
  const Type type = GetParam();
  const size_t bytes = row_bytes(type, 8192).value();
  std::vector<uint8_t> aligned(bytes);
  std::vector<uint8_t> storage(bytes + 1);
  ASSERT_TRUE(fill_random_row(type, 3, 1.f, aligned.data(), 8192).ok());
  ASSERT_TRUE(fill_random_row(type, 3, 1.f, storage.data() + 1, 8192).ok());
  EXPECT_EQ(std::memcmp(aligned.data(), storage.data() + 1, bytes), 0) << type_name(type);
}

TEST_P(RandomRowTest, RejectsBadArguments) {
  const Type type = GetParam();
  const uint32_t block = type_info(type).block_size;
  std::vector<uint8_t> buf(row_bytes(type, 1024).value());
  for (const float bad : {0.f, -1.f, NAN, INFINITY}) {
    const Status s = fill_random_row(type, 1, bad, buf.data(), 1024);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << type_name(type) << " scale " << bad;
  }
  if (block > 1) {
    const Status s = fill_random_row(type, 1, 1.f, buf.data(), block + 1);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << type_name(type);
  }
  EXPECT_EQ(fill_random_row(type, 1, 1.f, buf.data(), -static_cast<int64_t>(block)).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(fill_random_row(type, 1, 1.f, nullptr, block).code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(fill_random_row(type, 1, 1.f, nullptr, 0).ok());
}

INSTANTIATE_TEST_SUITE_P(AllTypes, RandomRowTest, ::testing::ValuesIn(kTypes),
                         [](const ::testing::TestParamInfo<Type>& info) {
                           return std::string(type_name(info.param));
                         });

// Block scales are positive and finite, and they vary between blocks.
TEST(RandomBlocks, ScalesArePositiveFiniteAndVary) {
  auto check = [](const char* what, const std::vector<uint16_t>& ds) {
    for (uint16_t d : ds) {
      const float f = fp16_to_fp32(d);
      ASSERT_TRUE(std::isfinite(f) && f > 0.f) << what << " d = " << f;
    }
    size_t distinct = 0;
    for (size_t i = 1; i < ds.size(); ++i) distinct += ds[i] != ds[0];
    EXPECT_GT(distinct, ds.size() / 2) << what;
  };
  {
    const auto bytes = random_row(Type::Q4_0, 1, 1.f, 4096);
    std::vector<uint16_t> ds;
    for (size_t i = 0; i < bytes.size(); i += sizeof(BlockQ4_0)) {
      BlockQ4_0 b;
      std::memcpy(&b, bytes.data() + i, sizeof b);
      ds.push_back(b.d);
    }
    check("q4_0", ds);
  }
  {
    const auto bytes = random_row(Type::Q4_K, 1, 1.f, 4096);
    std::vector<uint16_t> ds, mins;
    for (size_t i = 0; i < bytes.size(); i += sizeof(BlockQ4_K)) {
      BlockQ4_K b;
      std::memcpy(&b, bytes.data() + i, sizeof b);
      ds.push_back(b.d);
      mins.push_back(b.dmin);
    }
    check("q4_K d", ds);
    check("q4_K dmin", mins);
  }
  {
    const auto bytes = random_row(Type::Q6_K, 1, 1.f, 4096);
    std::vector<uint16_t> ds;
    for (size_t i = 0; i < bytes.size(); i += sizeof(BlockQ6_K)) {
      BlockQ6_K b;
      std::memcpy(&b, bytes.data() + i, sizeof b);
      ds.push_back(b.d);
    }
    check("q6_K", ds);
  }
}

TEST(RandomBlocks, ScaleOutsideFp16RangeIsRejected) {
  std::vector<uint8_t> buf(row_bytes(Type::Q6_K, 256).value());
  const Status tiny = fill_random_row(Type::Q6_K, 1, 1e-9f, buf.data(), 256);
  EXPECT_EQ(tiny.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(tiny.message().find("q6_K"), std::string::npos) << tiny.message();
  EXPECT_EQ(fill_random_row(Type::F16, 1, 1e6f, buf.data(), 16).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(fill_random_row(Type::Q4_1, 1, 1e5f, buf.data(), 32).code(), ErrorCode::kInvalidArgument);
  // f32 takes any finite scale.
  std::vector<float> f(64);
  EXPECT_TRUE(fill_random_row(Type::F32, 1, 1e30f, f.data(), 64).ok());
}

TEST(RandomBlocks, UnsupportedTypesAreRejected) {
  std::vector<uint8_t> buf(4096);
  for (Type t : {Type::IQ2_XXS, Type::Q8_K, Type::I8, Type::MXFP4}) {
    EXPECT_EQ(fill_random_row(t, 1, 1.f, buf.data(), 256).code(), ErrorCode::kUnsupported) << type_name(t);
  }
}

}  // namespace
}  // namespace strata::quant
