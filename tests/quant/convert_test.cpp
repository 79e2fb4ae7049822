// dequantize_row / quantize_row without fixtures: round-trip error bounds on random data,
// error paths, unaligned buffers and edge-case inputs.
#include "quant/convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "quant/blocks.h"
#include "support/fixtures.h"

namespace strata::quant {
namespace {

const Type kConvertible[] = {Type::F32,  Type::F16,  Type::BF16, Type::Q4_0, Type::Q4_1,
                             Type::Q5_0, Type::Q5_1, Type::Q8_0, Type::Q2_K, Type::Q3_K,
                             Type::Q4_K, Type::Q5_K, Type::Q6_K, Type::IQ4_NL, Type::IQ4_XS};

std::vector<float> uniform_data(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

std::vector<float> gaussian_data(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// Quantizes and dequantizes x as rows of 4096; returns the RMSE relative to the data's RMS.
double relative_rmse(Type type, const std::vector<float>& x) {
  constexpr int64_t kRow = 4096;
  std::vector<uint8_t> q(row_bytes(type, kRow).value());
  std::vector<float> back(kRow);
  double err = 0, ref = 0;
  for (size_t r = 0; r + kRow <= x.size(); r += kRow) {
    EXPECT_TRUE(quantize_row(type, x.data() + r, q.data(), kRow).ok());
    EXPECT_TRUE(dequantize_row(type, q.data(), back.data(), kRow).ok());
    for (int64_t j = 0; j < kRow; ++j) {
      const double e = back[static_cast<size_t>(j)] - x[r + static_cast<size_t>(j)];
      err += e * e;
      ref += static_cast<double>(x[r + static_cast<size_t>(j)]) * x[r + static_cast<size_t>(j)];
    }
  }
  return std::sqrt(err / ref);
}

// Upper bounds on the relative RMSE of a round trip (uniform and Gaussian data), about 1.25x
// what the reference quantizers achieve, so a broken search or packing shows up.
struct Bound {
  Type type;
  double uniform;
  double gaussian;
};
const Bound kBounds[] = {
    {Type::F32, 0.0, 0.0},          {Type::F16, 2.5e-4, 2.5e-4},    {Type::BF16, 2e-3, 2.1e-3},
    {Type::Q4_0, 0.08, 0.105},      {Type::Q4_1, 0.075, 0.098},     {Type::Q5_0, 0.039, 0.053},
    {Type::Q5_1, 0.037, 0.047},     {Type::Q8_0, 0.0047, 0.0067},   {Type::Q2_K, 0.29, 0.37},
    {Type::Q3_K, 0.157, 0.188},     {Type::Q4_K, 0.068, 0.089},     {Type::Q5_K, 0.035, 0.045},
    {Type::Q6_K, 0.0165, 0.022},    {Type::IQ4_NL, 0.08, 0.095},    {Type::IQ4_XS, 0.081, 0.096},
};

TEST(RoundTrip, RmseWithinBoundsForEveryType) {
  const std::vector<float> uniform = uniform_data(4096 * 16, 1);
  const std::vector<float> gaussian = gaussian_data(4096 * 16, 2);
  for (const Bound& b : kBounds) {
    const double u = relative_rmse(b.type, uniform);
    const double g = relative_rmse(b.type, gaussian);
    EXPECT_LE(u, b.uniform) << type_name(b.type) << " uniform";
    EXPECT_LE(g, b.gaussian) << type_name(b.type) << " gaussian";
    if (b.type != Type::F32) {
      EXPECT_GT(u, 0.0) << type_name(b.type);
    }
    RecordProperty(std::string(type_name(b.type)) + "_uniform", std::to_string(u));
    RecordProperty(std::string(type_name(b.type)) + "_gaussian", std::to_string(g));
  }
}

TEST(RoundTrip, MoreBitsMeanLessError) {
  const std::vector<float> x = gaussian_data(4096 * 8, 3);
  EXPECT_LT(relative_rmse(Type::Q3_K, x), relative_rmse(Type::Q2_K, x));
  EXPECT_LT(relative_rmse(Type::Q4_K, x), relative_rmse(Type::Q3_K, x));
  EXPECT_LT(relative_rmse(Type::Q5_K, x), relative_rmse(Type::Q4_K, x));
  EXPECT_LT(relative_rmse(Type::Q6_K, x), relative_rmse(Type::Q5_K, x));
  EXPECT_LT(relative_rmse(Type::Q8_0, x), relative_rmse(Type::Q6_K, x));
  EXPECT_LT(relative_rmse(Type::Q5_0, x), relative_rmse(Type::Q4_0, x));
}

// IQ4_XS has no fixture: its error must be in Q4_K's league on the fixture input and random data.
TEST(RoundTrip, Iq4XsComparableToQ4K) {
  const std::vector<float> gaussian = gaussian_data(4096 * 8, 4);
  const std::vector<float> uniform = uniform_data(4096 * 8, 5);
  EXPECT_LE(relative_rmse(Type::IQ4_XS, gaussian), 1.15 * relative_rmse(Type::Q4_K, gaussian));
  EXPECT_LE(relative_rmse(Type::IQ4_XS, uniform), 1.4 * relative_rmse(Type::Q4_K, uniform));
  if (!strata::testing::have_fixtures()) return;
  std::vector<float> input(4 * 4096);
  FILE* f = std::fopen((strata::testing::fixtures_dir() / "quant" / "input.f32").c_str(), "rb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fread(input.data(), sizeof(float), input.size(), f), input.size());
  std::fclose(f);
  EXPECT_LE(relative_rmse(Type::IQ4_XS, input), 1.15 * relative_rmse(Type::Q4_K, input));
}

TEST(RoundTrip, ExactValuesSurvive) {
  // Small integers times a power of two are exactly representable in every 8-bit format.
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[static_cast<size_t>(i)] = static_cast<float>((i % 255) - 127) / 64.f;
  for (Type t : {Type::F32, Type::F16, Type::BF16}) {
    std::vector<uint8_t> q(row_bytes(t, 256).value());
    std::vector<float> back(256);
    ASSERT_TRUE(quantize_row(t, x.data(), q.data(), 256).ok());
    ASSERT_TRUE(dequantize_row(t, q.data(), back.data(), 256).ok());
    EXPECT_EQ(back, x) << type_name(t);
  }
}

TEST(RoundTrip, ZeroRowsStayZero) {
  const std::vector<float> zeros(512, 0.f);
  for (Type t : kConvertible) {
    std::vector<uint8_t> q(row_bytes(t, 512).value(), 0xAB);
    std::vector<float> back(512, 1.f);
    ASSERT_TRUE(quantize_row(t, zeros.data(), q.data(), 512).ok()) << type_name(t);
    ASSERT_TRUE(dequantize_row(t, q.data(), back.data(), 512).ok()) << type_name(t);
    for (float v : back) ASSERT_EQ(v, 0.f) << type_name(t);
  }
}

TEST(RoundTrip, NonFiniteInputDoesNotCrash) {
  std::vector<float> x = gaussian_data(512, 6);
  x[3] = NAN;
  x[40] = INFINITY;
  x[300] = -INFINITY;
  x[301] = 1e30f;
  for (Type t : kConvertible) {
    std::vector<uint8_t> q(row_bytes(t, 512).value());
    std::vector<float> back(512);
    EXPECT_TRUE(quantize_row(t, x.data(), q.data(), 512).ok()) << type_name(t);
    EXPECT_TRUE(dequantize_row(t, q.data(), back.data(), 512).ok()) << type_name(t);
  }
}

TEST(Convert, UnalignedBuffersGiveTheSameResults) {
  const std::vector<float> x = gaussian_data(4096, 7);
  for (Type t : kConvertible) {
    const size_t bytes = row_bytes(t, 4096).value();
    std::vector<uint8_t> aligned(bytes);
    std::vector<uint8_t> storage(bytes + 1);
    uint8_t* odd = storage.data() + 1;
    ASSERT_TRUE(quantize_row(t, x.data(), aligned.data(), 4096).ok());
    ASSERT_TRUE(quantize_row(t, x.data(), odd, 4096).ok());
    EXPECT_EQ(std::memcmp(aligned.data(), odd, bytes), 0) << type_name(t);
    std::vector<float> a(4096), b(4096);
    ASSERT_TRUE(dequantize_row(t, aligned.data(), a.data(), 4096).ok());
    ASSERT_TRUE(dequantize_row(t, odd, b.data(), 4096).ok());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << type_name(t);
  }
}

TEST(Convert, ErrorsForUnsupportedTypes) {
  std::vector<uint8_t> q(4096);
  std::vector<float> f(256);
  for (Type t : {Type::IQ2_XXS, Type::IQ1_S, Type::Q8_K, Type::TQ1_0, Type::MXFP4, Type::I32, Type::F64}) {
    const Status d = dequantize_row(t, q.data(), f.data(), 256);
    ASSERT_FALSE(d.ok()) << type_name(t);
    EXPECT_EQ(d.code(), ErrorCode::kUnsupported);
    EXPECT_NE(d.message().find(std::string(type_name(t))), std::string::npos) << d.message();
    const Status qs = quantize_row(t, f.data(), q.data(), 256);
    ASSERT_FALSE(qs.ok()) << type_name(t);
    EXPECT_EQ(qs.code(), ErrorCode::kUnsupported);
  }
  const Status bogus = dequantize_row(static_cast<Type>(1234), q.data(), f.data(), 32);
  EXPECT_EQ(bogus.code(), ErrorCode::kUnsupported);
}

TEST(Convert, ErrorsForBadElementCounts) {
  std::vector<uint8_t> q(8192);
  std::vector<float> f(512);
  const Status partial = dequantize_row(Type::Q4_K, q.data(), f.data(), 300);
  ASSERT_FALSE(partial.ok());
  EXPECT_EQ(partial.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(partial.message().find("300"), std::string::npos) << partial.message();
  EXPECT_NE(partial.message().find("256"), std::string::npos) << partial.message();
  EXPECT_EQ(quantize_row(Type::Q4_0, f.data(), q.data(), 33).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(dequantize_row(Type::Q8_0, q.data(), f.data(), -32).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(quantize_row(Type::F16, f.data(), q.data(), -1).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(dequantize_row(Type::Q4_0, nullptr, f.data(), 32).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(quantize_row(Type::Q4_0, f.data(), nullptr, 32).code(), ErrorCode::kInvalidArgument);
  // An empty row is fine, even without buffers.
  EXPECT_TRUE(dequantize_row(Type::Q4_K, nullptr, nullptr, 0).ok());
  EXPECT_TRUE(quantize_row(Type::F32, nullptr, nullptr, 0).ok());
}

TEST(Convert, HandBuiltBlocksDecodeAsDocumented) {
  // q4_0: d = 0.5, nibbles 0..15 -> (q - 8) * 0.5.
  BlockQ4_0 b{};
  b.d = 0x3800;  // 0.5
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  ASSERT_TRUE(dequantize_row(Type::Q4_0, &b, y, 32).ok());
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f);
    EXPECT_EQ(y[j + 16], (15 - j - 8) * 0.5f);
  }
  // iq4_nl: d = 1 reads the table itself.
  BlockIQ4_NL n{};
  n.d = 0x3C00;
  for (int j = 0; j < 16; ++j) n.qs[j] = static_cast<uint8_t>(j | (j << 4));
  ASSERT_TRUE(dequantize_row(Type::IQ4_NL, &n, y, 32).ok());
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], kIQ4Values[j]);
    EXPECT_EQ(y[j + 16], kIQ4Values[j]);
  }
}

}  // namespace
}  // namespace strata::quant
