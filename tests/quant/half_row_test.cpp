// The branch-free row conversions in quant/half_row.h agree with core/half.h.
#include "quant/half_row.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/half.h"

namespace strata::quant::detail {
namespace {

TEST(HalfRow, HalfToFloatMatchesCoreForEveryValue) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const float want = fp16_to_fp32(static_cast<uint16_t>(h));
    const float got = half_to_float_fast(static_cast<uint16_t>(h));
    ASSERT_EQ(float_to_bits(got), float_to_bits(want)) << std::hex << h;
  }
}

void expect_same_half(uint32_t bits) {
  const float f = bits_to_float(bits);
  const uint16_t got = float_to_half_fast(f);
  if (std::isnan(f)) {
    ASSERT_EQ(got & 0x7E00u, 0x7E00u) << std::hex << bits;  // a quiet NaN
    ASSERT_EQ(got & 0x8000u, (bits >> 16) & 0x8000u) << std::hex << bits;
    return;
  }
  ASSERT_EQ(got, fp32_to_fp16(f)) << std::hex << bits;
}

TEST(HalfRow, FloatToHalfMatchesCoreOnRoundingEdges) {
  // Every exponent and top mantissa pattern, with the low bits around each rounding point of
  // normal results (bit 13) and of subnormal results (bits 14..24).
  const uint32_t low_patterns[] = {0,      1,      0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x0800, 0x17FF,
                                   0x2000, 0x3000, 0x4000, 0x6000, 0x8000, 0xC000, 0x7FFFF, 0x80000};
  for (uint32_t sign = 0; sign < 2; ++sign) {
    for (uint32_t exp = 0; exp < 256; ++exp) {
      for (uint32_t top = 0; top < 1024; ++top) {
        for (uint32_t low : low_patterns) {
          const uint32_t mant = ((top << 13) ^ low) & 0x7FFFFFu;
          expect_same_half((sign << 31) | (exp << 23) | mant);
        }
      }
    }
  }
}

TEST(HalfRow, FloatToHalfMatchesCoreOnRandomFloats) {
  std::mt19937 gen(11);
  for (int i = 0; i < 2000000; ++i) expect_same_half(static_cast<uint32_t>(gen()));
}

}  // namespace
}  // namespace strata::quant::detail
