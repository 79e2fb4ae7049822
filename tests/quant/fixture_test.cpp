// Bit-exactness against llama.cpp's reference vectors in fixtures/quant: dequantized floats
// and quantized bytes for every fixture type.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "quant/convert.h"
#include "quant/type.h"
#include "support/fixtures.h"

namespace strata::quant {
namespace {

constexpr int kRows = 4;
constexpr int kCols = 4096;

std::vector<uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<float> read_floats(const std::filesystem::path& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

std::filesystem::path quant_dir() { return strata::testing::fixtures_dir() / "quant"; }

// Every fixture file name with its type; the 13 types of the fixture README.
const char* const kFixtureTypes[] = {"f16",  "bf16", "q4_0", "q4_1", "q5_0", "q5_1",  "q8_0",
                                     "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl"};

class FixtureTest : public ::testing::TestWithParam<const char*> {};

TEST_P(FixtureTest, DequantizeIsBitExact) {
  STRATA_REQUIRE_FIXTURES();
  const std::string name = GetParam();
  const auto type = type_from_name(name);
  ASSERT_TRUE(type.has_value()) << name;
  const std::vector<uint8_t> blocks = read_file(quant_dir() / (name + ".bin"));
  const std::vector<float> expected = read_floats(quant_dir() / (name + ".dequant.f32"));
  const uint64_t row_size = row_bytes(*type, kCols).value();
  ASSERT_EQ(blocks.size(), row_size * kRows) << "fixture " << name << ".bin has an unexpected size";
  ASSERT_EQ(expected.size(), static_cast<size_t>(kRows * kCols));

  std::vector<float> got(kCols);
  for (int r = 0; r < kRows; ++r) {
    ASSERT_TRUE(dequantize_row(*type, blocks.data() + r * row_size, got.data(), kCols).ok());
    int mismatches = 0;
    for (int j = 0; j < kCols; ++j) {
      const float want = expected[static_cast<size_t>(r * kCols + j)];
      if (std::memcmp(&want, &got[static_cast<size_t>(j)], sizeof(float)) != 0 && ++mismatches <= 3) {
        ADD_FAILURE() << name << " row " << r << " col " << j << ": got " << got[static_cast<size_t>(j)]
                      << ", want " << want;
      }
    }
    EXPECT_EQ(mismatches, 0) << name << " row " << r;
  }
}

TEST_P(FixtureTest, QuantizeIsByteExact) {
  STRATA_REQUIRE_FIXTURES();
  const std::string name = GetParam();
  const auto type = type_from_name(name);
  ASSERT_TRUE(type.has_value()) << name;
  const std::vector<float> input = read_floats(quant_dir() / "input.f32");
  const std::vector<uint8_t> expected = read_file(quant_dir() / (name + ".bin"));
  ASSERT_EQ(input.size(), static_cast<size_t>(kRows * kCols));
  const uint64_t row_size = row_bytes(*type, kCols).value();
  ASSERT_EQ(expected.size(), row_size * kRows);

  std::vector<uint8_t> got(row_size);
  for (int r = 0; r < kRows; ++r) {
    ASSERT_TRUE(quantize_row(*type, input.data() + r * kCols, got.data(), kCols).ok());
    size_t first_diff = row_size;
    for (size_t b = 0; b < row_size; ++b) {
      if (got[b] != expected[r * row_size + b]) {
        first_diff = b;
        break;
      }
    }
    EXPECT_EQ(first_diff, row_size) << name << " row " << r << ": first differing byte " << first_diff
                                    << " (block " << first_diff / type_info(*type).block_bytes << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, FixtureTest, ::testing::ValuesIn(kFixtureTypes),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

// The fixture RMSE of each type against input.f32 is what the manifest records; dequantizing
// our own quantization must land on the same figure (a sanity check independent of bytes).
TEST(FixtureRmse, OwnRoundTripMatchesManifest) {
  STRATA_REQUIRE_FIXTURES();
  const std::vector<float> input = read_floats(quant_dir() / "input.f32");
  ASSERT_EQ(input.size(), static_cast<size_t>(kRows * kCols));
  struct Case {
    Type type;
    double rmse;
  };
  const Case cases[] = {{Type::Q4_0, 0.139245306}, {Type::Q4_K, 0.1282}, {Type::Q6_K, 0.04097},
                        {Type::IQ4_NL, 0.1352}};
  for (const Case& c : cases) {
    std::vector<uint8_t> q(row_bytes(c.type, kCols).value());
    std::vector<float> back(kCols);
    double sum = 0;
    for (int r = 0; r < kRows; ++r) {
      ASSERT_TRUE(quantize_row(c.type, input.data() + r * kCols, q.data(), kCols).ok());
      ASSERT_TRUE(dequantize_row(c.type, q.data(), back.data(), kCols).ok());
      for (int j = 0; j < kCols; ++j) {
        const double e = back[static_cast<size_t>(j)] - input[static_cast<size_t>(r * kCols + j)];
        sum += e * e;
      }
    }
    EXPECT_NEAR(std::sqrt(sum / (kRows * kCols)), c.rmse, c.rmse * 1e-3) << type_name(c.type);
  }
}

}  // namespace
}  // namespace strata::quant
