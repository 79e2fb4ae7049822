// Hidden states on the wire: f32 round trips exactly, f16 to half precision; a byte count that
// does not match the batch, an unknown type, or an inf/NaN value (found by fuzz_worker: NaN
// reached the CPU backend's int8 activation quantization, whose integer sums overflowed) is an
// error before any stage computes with it.
#include "dist/hidden_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace strata::dist {
namespace {

std::string f32_bytes(const std::vector<float>& values) {
  std::string out(values.size() * sizeof(float), '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

TEST(HiddenCodecTest, RoundTripsF32ExactlyAndF16ToHalfPrecision) {
  const std::vector<float> values = {0.0f, -1.5f, 3.25f, 1e-3f, 60000.0f, -65504.0f};
  std::string bytes;
  encode_hidden(values, v1::HIDDEN_F32, bytes);
  EXPECT_EQ(bytes.size(), values.size() * 4);
  std::vector<float> back(values.size());
  ASSERT_TRUE(decode_hidden(bytes, v1::HIDDEN_F32, back).ok());
  EXPECT_EQ(back, values);

  encode_hidden(values, v1::HIDDEN_F16, bytes);
  EXPECT_EQ(bytes.size(), values.size() * 2);
  ASSERT_TRUE(decode_hidden(bytes, v1::HIDDEN_F16, back).ok());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(back[i], values[i], std::abs(values[i]) / 1000 + 1e-6f) << i;
}

TEST(HiddenCodecTest, WrongSizeOrTypeIsAnError) {
  std::vector<float> out(4);
  Status s = decode_hidden(std::string(15, '\0'), v1::HIDDEN_F32, out);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("16 bytes"), std::string::npos) << s.message();
  s = decode_hidden(std::string(16, '\0'), static_cast<v1::HiddenType>(7), out);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("type 7"), std::string::npos) << s.message();
}

TEST(HiddenCodecTest, NonFiniteValuesAreRefused) {
  std::vector<float> out(3);
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
    Status s = decode_hidden(f32_bytes({1.0f, bad, 2.0f}), v1::HIDDEN_F32, out);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.message().find("value 1 of 3"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("not a finite number"), std::string::npos) << s.message();
  }
  // f16 overflows to inf past 65504: the message says what to use instead.
  std::string bytes;
  encode_hidden(std::vector<float>{1.0f, 2.0f, 70000.0f}, v1::HIDDEN_F16, bytes);
  Status s = decode_hidden(bytes, v1::HIDDEN_F16, out);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("send f32 hidden states"), std::string::npos) << s.message();
  const uint16_t f16_nan[3] = {0x3c00, 0x3c00, 0x7e00};
  s = decode_hidden(std::string(reinterpret_cast<const char*>(f16_nan), sizeof(f16_nan)), v1::HIDDEN_F16, out);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.message();
}

}  // namespace
}  // namespace strata::dist
