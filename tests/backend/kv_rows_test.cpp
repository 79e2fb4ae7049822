// KV row loaders and writers: bit-equal to the quant reference on every instruction-set path.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/kv_rows.h"
#include "backend/cpu/kv_rows_isa.h"
#include "quant/convert.h"
#include "quant/type.h"

namespace strata::backend::cpu {
namespace {

using quant::Type;

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (isa_supported(isa)) out.push_back(isa);
  }
  return out;
}

size_t bytes_for(Type type, int64_t n) { return quant::row_bytes(type, static_cast<uint64_t>(n)).value(); }

// Equal bits, or both NaN (a NaN's payload is not part of the contract for f16 inputs).
bool same_float(float a, float b) {
  uint32_t ua, ub;
  std::memcpy(&ua, &a, 4);
  std::memcpy(&ub, &b, 4);
  return ua == ub || (std::isnan(a) && std::isnan(b));
}

// Floats with varied magnitudes per 32-block, zero blocks, ties and repeated extremes: the
// cases where a quantizer's rounding shows.
std::vector<float> tricky_floats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_int_distribution<int> kind(0, 7);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t b = 0; b < n; b += 32) {
    const int k = kind(rng);
    const float scale = std::ldexp(1.f, static_cast<int>(rng() % 40) - 20);
    for (int64_t j = b; j < std::min<int64_t>(n, b + 32); ++j) {
      float v = normal(rng) * scale;
      switch (k) {
        case 0: v = 0.f; break;
        case 1: v = static_cast<float>(static_cast<int>(rng() % 255) - 127) * 0.5f; break;  // halves: q8_0 ties
        case 2: v = static_cast<float>(static_cast<int>(rng() % 17) - 8); break;            // q4_0 grid
        case 3: v = (j % 3 == 0) ? -scale : v; break;                                       // repeated -max
        default: break;
      }
      x[static_cast<size_t>(j)] = v;
    }
    if (k == 1 && b < n) x[static_cast<size_t>(b)] = 127.f;  // scale 1: the halves stay ties
    if (k == 2 && b < n) x[static_cast<size_t>(b)] = -8.f;
  }
  return x;
}

TEST(KvRows, TypeListAndChecks) {
  EXPECT_EQ(kv_types().size(), 9u);
  for (Type t : kv_types()) EXPECT_TRUE(is_kv_type(t));
  EXPECT_FALSE(is_kv_type(Type::Q4_K));
  EXPECT_TRUE(check_kv_type("K", Type::Q4_0, 128).ok());
  EXPECT_TRUE(check_kv_type("V", Type::F16, 80).ok());
  const Status bad_q = check_kv_type("K", Type::Q4_0, 80);
  ASSERT_FALSE(bad_q.ok());
  EXPECT_NE(bad_q.message().find("q4_0"), std::string::npos) << bad_q.message();
  EXPECT_NE(bad_q.message().find("80"), std::string::npos) << bad_q.message();
  EXPECT_NE(bad_q.message().find("f32, f16, bf16"), std::string::npos) << bad_q.message();
  EXPECT_EQ(bad_q.message().find("q8_0,"), std::string::npos) << bad_q.message();
  EXPECT_FALSE(check_kv_type("K", Type::F16, 100).ok());
  EXPECT_FALSE(check_kv_type("K", Type::F16, 0).ok());
  const Status not_kv = check_kv_type("V", Type::Q4_K, 128);
  ASSERT_FALSE(not_kv.ok());
  EXPECT_NE(not_kv.message().find("iq4_nl"), std::string::npos) << not_kv.message();
}

TEST(KvRows, LoadersMatchDequantizeRowBitForBit) {
  std::mt19937 rng(7);
  for (Isa isa : supported_isas()) {
    for (Type type : kv_types()) {
      const KvRowLoader load = kv_row_loader(type, isa);
      ASSERT_NE(load, nullptr);
      const int64_t block = quant::type_info(type).block_size;
      for (int64_t n : {int64_t{32}, int64_t{64}, int64_t{96}, int64_t{256}, int64_t{8}, int64_t{21}}) {
        if (n % block != 0) continue;
        // Random bytes cover every code, scale and offset, subnormal and infinite scales included.
        std::vector<uint8_t> raw(bytes_for(type, n) + 1);
        for (auto& b : raw) b = static_cast<uint8_t>(rng());
        const uint8_t* src = raw.data() + 1;  // rows in a cache need not be aligned
        std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
        ASSERT_TRUE(quant::dequantize_row(type, src, want.data(), n).ok());
        load(src, got.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_TRUE(same_float(want[i], got[i]))
              << quant::type_name(type) << " on " << isa_name(isa) << " n=" << n << " i=" << i << ": " << got[i]
              << " vs " << want[i];
        }
      }
    }
  }
}

// The tile loaders attention uses read strided rows exactly as the row loaders do.
TEST(KvRows, TileLoadersMatchRowLoaders) {
  std::mt19937 rng(11);
  for (Isa isa : supported_isas()) {
    for (Type type : kv_types()) {
      const detail::KvTileLoader tile = detail::kv_tile_loader(type, isa);
      ASSERT_NE(tile, nullptr);
      constexpr int kRows = 5;
      constexpr int64_t kN = 96;
      const size_t stride = bytes_for(type, 2 * kN) + 1;  // odd stride: unaligned rows
      std::vector<uint8_t> raw(stride * kRows);
      for (auto& b : raw) b = static_cast<uint8_t>(rng() & 0x3F);  // small exponents: finite values
      std::vector<float> got(kRows * kN), want(kN);
      tile(raw.data() + 1, stride, kRows, kN, got.data());
      for (int r = 0; r < kRows; ++r) {
        ASSERT_TRUE(quant::dequantize_row(type, raw.data() + 1 + r * stride, want.data(), kN).ok());
        for (int64_t i = 0; i < kN; ++i) {
          ASSERT_TRUE(same_float(want[i], got[r * kN + i])) << quant::type_name(type) << " " << isa_name(isa);
        }
      }
    }
  }
  EXPECT_EQ(detail::kv_tile_loader(Type::Q4_K, Isa::kScalar), nullptr);
}

TEST(KvRows, WritersMatchQuantizeRowBitForBit) {
  for (Isa isa : supported_isas()) {
    for (Type type : kv_types()) {
      const KvRowWriter write = kv_row_writer(type, isa);
      ASSERT_NE(write, nullptr);
      const int64_t block = quant::type_info(type).block_size;
      for (int64_t n : {int64_t{32}, int64_t{128}, int64_t{4096}, int64_t{24}, int64_t{7}}) {
        if (n % block != 0) continue;
        const std::vector<float> x = tricky_floats(n, static_cast<uint32_t>(n + 31 * static_cast<int>(type)));
        std::vector<uint8_t> want(bytes_for(type, n)), got(bytes_for(type, n) + 1);
        ASSERT_TRUE(quant::quantize_row(type, x.data(), want.data(), n).ok());
        write(x.data(), got.data() + 1, n);
        ASSERT_EQ(std::memcmp(want.data(), got.data() + 1, want.size()), 0)
            << quant::type_name(type) << " on " << isa_name(isa) << " n=" << n;
      }
    }
  }
}

TEST(KvRows, HalfWritersRoundLikeReferenceAtTheEdges) {
  const std::vector<float> edges = {0.f,       -0.f,      1.f,         65504.f,   65519.f,  65520.f, -70000.f,
                                    6.1e-5f,   5.96e-8f,  2.98e-8f,    2.99e-8f,  1e-10f,   3.0e38f, -3.0e38f,
                                    1.0009765f, 1.00048828125f, 1.000732421875f, 0.33333334f, INFINITY, -INFINITY};
  for (Isa isa : supported_isas()) {
    for (Type type : {Type::F16, Type::BF16}) {
      std::vector<uint8_t> want(edges.size() * 2), got(edges.size() * 2);
      ASSERT_TRUE(quant::quantize_row(type, edges.data(), want.data(), static_cast<int64_t>(edges.size())).ok());
      kv_row_writer(type, isa)(edges.data(), got.data(), static_cast<int64_t>(edges.size()));
      EXPECT_EQ(want, got) << quant::type_name(type) << " on " << isa_name(isa);
    }
  }
}

TEST(KvRows, WriteAndReadRowsWithStrides) {
  constexpr int64_t kRows = 5, kElems = 256;
  const std::vector<float> x = tricky_floats(kRows * 300, 3);
  for (Type type : kv_types()) {
    const size_t row = bytes_for(type, kElems);
    const size_t stride = row + 10;
    std::vector<uint8_t> cache(stride * kRows, 0xAB);
    ASSERT_TRUE(write_kv_rows(type, x.data(), kRows, kElems, cache.data(), stride, 300).ok());
    std::vector<float> back(kRows * kElems);
    ASSERT_TRUE(read_kv_rows(type, cache.data(), stride, kRows, kElems, back.data()).ok());
    for (int64_t r = 0; r < kRows; ++r) {
      std::vector<uint8_t> want(row);
      ASSERT_TRUE(quant::quantize_row(type, x.data() + r * 300, want.data(), kElems).ok());
      EXPECT_EQ(std::memcmp(want.data(), cache.data() + r * stride, row), 0) << quant::type_name(type) << " row " << r;
      std::vector<float> deq(kElems);
      ASSERT_TRUE(quant::dequantize_row(type, want.data(), deq.data(), kElems).ok());
      EXPECT_EQ(std::memcmp(deq.data(), back.data() + r * kElems, kElems * sizeof(float)), 0);
      // The padding between rows is untouched.
      for (size_t i = row; i < stride; ++i) EXPECT_EQ(cache[r * stride + i], 0xAB);
    }
  }
}

TEST(KvRows, BadArgumentsAreErrors) {
  std::vector<float> x(64, 1.f);
  std::vector<uint8_t> buf(1024);
  EXPECT_FALSE(write_kv_rows(Type::Q4_K, x.data(), 1, 256, buf.data(), 1024).ok());
  EXPECT_FALSE(write_kv_rows(Type::Q8_0, x.data(), 1, 48, buf.data(), 1024).ok());
  EXPECT_FALSE(write_kv_rows(Type::F16, x.data(), 2, 32, buf.data(), 10).ok());
  EXPECT_FALSE(write_kv_rows(Type::F16, nullptr, 1, 32, buf.data(), 64).ok());
  EXPECT_FALSE(write_kv_rows(Type::F16, x.data(), -1, 32, buf.data(), 64).ok());
  EXPECT_FALSE(write_kv_rows(Type::F16, x.data(), 2, 32, buf.data(), 64, 16).ok());
  EXPECT_FALSE(read_kv_rows(Type::Q4_0, buf.data(), 18, 2, 32, nullptr).ok());
  EXPECT_TRUE(write_kv_rows(Type::F16, x.data(), 0, 32, nullptr, 0).ok());
  const Status s = write_kv_rows(Type::Q8_0, x.data(), 1, 48, buf.data(), 1024);
  EXPECT_NE(s.message().find("32"), std::string::npos) << s.message();
  EXPECT_EQ(kv_row_loader(Type::Q4_K, Isa::kScalar), nullptr);
  EXPECT_EQ(kv_row_writer(Type::Q6_K, Isa::kScalar), nullptr);
}

}  // namespace
}  // namespace strata::backend::cpu
