// CPU matmul against a naive double-precision reference, for every weight type, every
// kernel path this CPU can run (scalar, AVX2, AVX-512), decode and batched shapes, and the
// argument errors.
//
// Tolerances. Quantized weights multiply activations quantized to 8 bits (one scale per 32
// values, or per 256 for the K-quants and iq4_xs), so against the exact float product the
// error bound is |y - ref| <= 1% of sum_k |w_k||x_k|. Against a reference that applies the
// same documented activation rounding (scale amax/127, round half to even) the only error
// left is float accumulation: |y - ref| <= 1e-4 * sum_k |w_k||x_k|. Paths must agree with
// the scalar path to the same 1e-4 bound.
#include "backend/cpu/matmul.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/decode_prefetch.h"
#include "backend/cpu/isa_kernels.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "quant/blocks.h"
#include "quant/convert.h"
#include "quant/random_blocks.h"
#include "quant/type.h"

namespace strata::backend::cpu {
namespace {

using quant::Type;

const Type kTypes[] = {Type::F32,  Type::F16,  Type::BF16, Type::Q4_0, Type::Q4_1,   Type::Q5_0,  Type::Q5_1, Type::Q8_0,
                       Type::Q2_K, Type::Q3_K, Type::Q4_K, Type::Q5_K, Type::Q6_K, Type::IQ4_NL, Type::IQ4_XS};

constexpr int64_t kMaxRows = 200;
constexpr int64_t kMaxTokens = 64;
const int64_t kRowCounts[] = {1, 3, 64, 200};
const int64_t kTokenCounts[] = {1, 2, 4, 7, 11, 64};  // 4: the 3-token direct kernels; 7: 4 + 3 (q4_K, q6_K) or panels; 11, 64: panels with every tail
const int64_t kLengths[] = {256, 2048, 4096, 2816};

bool is_k_quant(Type t) {
  return t == Type::Q2_K || t == Type::Q3_K || t == Type::Q4_K || t == Type::Q5_K || t == Type::Q6_K ||
         t == Type::IQ4_XS;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (isa_supported(isa)) out.push_back(isa);
  }
  return out;
}

// Restores run-time detection when a test leaves.
struct IsaGuard {
  ~IsaGuard() { (void)force_isa(std::nullopt); }
};

std::vector<float> gaussian(size_t n, float mean, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(mean, 1.f);
  std::vector<float> v(n);
  for (float& f : v) f = dist(gen);
  return v;
}

// Weights as stored (quantized from Gaussian floats) and as the reference sees them.
struct Weights {
  size_t row_bytes = 0;
  std::vector<uint8_t> bytes;
  std::vector<float> deq;  // n_rows x K
};

Weights make_weights(Type type, int64_t n_rows, int64_t k, uint32_t seed) {
  Weights w;
  w.row_bytes = quant::row_bytes(type, static_cast<uint64_t>(k)).value();
  w.bytes.resize(w.row_bytes * static_cast<size_t>(n_rows));
  w.deq.resize(static_cast<size_t>(n_rows * k));
  const std::vector<float> src = gaussian(static_cast<size_t>(n_rows * k), 0.f, seed);
  for (int64_t r = 0; r < n_rows; ++r) {
    uint8_t* row = w.bytes.data() + static_cast<size_t>(r) * w.row_bytes;
    EXPECT_TRUE(quant::quantize_row(type, src.data() + r * k, row, k).ok());
    EXPECT_TRUE(quant::dequantize_row(type, row, w.deq.data() + r * k, k).ok());
  }
  return w;
}

// The activations a kernel multiplies with: the documented 8-bit rounding, or f16 / bf16
// rounding for those weights.
std::vector<float> effective_acts(Type type, const std::vector<float>& x, int64_t k) {
  std::vector<float> out(x.size());
  if (type == Type::F32) return x;
  if (type == Type::F16 || type == Type::BF16) {
    for (size_t i = 0; i < x.size(); ++i) {
      out[i] = type == Type::F16 ? fp16_to_fp32(fp32_to_fp16(x[i])) : bf16_to_fp32(fp32_to_bf16(x[i]));
    }
    return out;
  }
  const int64_t group = is_k_quant(type) ? 256 : 32;
  for (size_t g0 = 0; g0 < x.size(); g0 += static_cast<size_t>(group)) {
    float amax = 0.f;
    for (int64_t j = 0; j < group; ++j) amax = std::max(amax, std::fabs(x[g0 + j]));
    const float d = amax / 127.f;
    const float id = amax != 0.f ? 127.f / amax : 0.f;
    for (int64_t j = 0; j < group; ++j) out[g0 + j] = d * std::nearbyint(x[g0 + j] * id);
  }
  (void)k;
  return out;
}

// ref[t * n_rows + r] and bound[t * n_rows + r] = sum |w||x|, in double.
void reference(const Weights& w, const std::vector<float>& x, int64_t n_rows, int64_t k, int64_t n_tokens,
               std::vector<double>& ref, std::vector<double>* bound) {
  ref.assign(static_cast<size_t>(n_rows * n_tokens), 0.0);
  if (bound) bound->assign(ref.size(), 0.0);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < n_rows; ++r) {
      double s = 0, b = 0;
      const float* wr = w.deq.data() + r * k;
      const float* xt = x.data() + t * k;
      for (int64_t i = 0; i < k; ++i) {
        s += static_cast<double>(wr[i]) * xt[i];
        b += std::fabs(static_cast<double>(wr[i]) * xt[i]);
      }
      ref[static_cast<size_t>(t * n_rows + r)] = s;
      if (bound) (*bound)[static_cast<size_t>(t * n_rows + r)] = b;
    }
  }
}

// Runs matmul for the first n_rows x n_tokens of the prepared data with an output stride
// of n_rows + 3; returns y packed as [t][r].
std::vector<float> run(Type type, const Weights& w, const std::vector<float>& x, int64_t n_rows, int64_t k,
                       int64_t n_tokens, ThreadPool& pool, MatmulScratch& scratch) {
  const int64_t stride = n_rows + 3;
  std::vector<float> y(static_cast<size_t>(stride * n_tokens), -777.f);
  const Status st = matmul(type, w.bytes.data(), w.row_bytes, n_rows, k, x.data(), n_tokens, y.data(), stride, pool,
                           scratch);
  EXPECT_TRUE(st.ok()) << st.to_string();
  std::vector<float> out(static_cast<size_t>(n_rows * n_tokens));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < n_rows; ++r) out[static_cast<size_t>(t * n_rows + r)] = y[static_cast<size_t>(t * stride + r)];
    // The padding between rows of y is never written.
    for (int64_t r = n_rows; r < stride; ++r) EXPECT_EQ(y[static_cast<size_t>(t * stride + r)], -777.f);
  }
  return out;
}

class MatmulTypeTest : public ::testing::TestWithParam<Type> {};

// Every path, every shape: against the exact product (1%), against the product with the
// documented activation rounding (1e-4), and against the scalar path (1e-4).
TEST_P(MatmulTypeTest, MatchesReferenceOnEveryPath) {
  const Type type = GetParam();
  IsaGuard guard;
  ThreadPool pool(3);  // an odd count exercises uneven row splits
  MatmulScratch scratch;
  for (const int64_t k : kLengths) {
    SCOPED_TRACE("K=" + std::to_string(k));
    const Weights w = make_weights(type, kMaxRows, k, static_cast<uint32_t>(k) * 7 + static_cast<uint32_t>(type));
    // A non-zero mean exercises the offset / min terms of the formats.
    const std::vector<float> x = gaussian(static_cast<size_t>(kMaxTokens * k), 0.3f, static_cast<uint32_t>(k) + 99);
    const std::vector<float> xe = effective_acts(type, x, k);
    std::vector<double> ref_exact, ref_eff, bound;
    reference(w, x, kMaxRows, k, kMaxTokens, ref_exact, &bound);
    reference(w, xe, kMaxRows, k, kMaxTokens, ref_eff, nullptr);

    for (const int64_t n_rows : kRowCounts) {
      for (const int64_t n_tokens : kTokenCounts) {
        SCOPED_TRACE("rows=" + std::to_string(n_rows) + " tokens=" + std::to_string(n_tokens));
        std::vector<float> scalar_y;
        for (const Isa isa : supported_isas()) {
          SCOPED_TRACE(std::string("path=") + std::string(isa_name(isa)));
          ASSERT_TRUE(force_isa(isa).ok());
          const std::vector<float> y = run(type, w, x, n_rows, k, n_tokens, pool, scratch);
          if (isa == Isa::kScalar) scalar_y = y;
          int bad = 0;
          for (int64_t t = 0; t < n_tokens && bad < 5; ++t) {
            for (int64_t r = 0; r < n_rows && bad < 5; ++r) {
              const size_t i = static_cast<size_t>(t * kMaxRows + r);
              const size_t j = static_cast<size_t>(t * n_rows + r);
              const double b = bound[i];
              const bool ok = std::fabs(y[j] - ref_exact[i]) <= 0.01 * b + 1e-6 &&
                              std::fabs(y[j] - ref_eff[i]) <= 1e-4 * b + 1e-6 &&
                              std::fabs(y[j] - scalar_y[j]) <= 1e-4 * b + 1e-6;
              if (!ok) {
                ++bad;
                ADD_FAILURE() << "t=" << t << " r=" << r << " y=" << y[j] << " exact=" << ref_exact[i]
                              << " with rounded acts=" << ref_eff[i] << " scalar=" << scalar_y[j]
                              << " sum|wx|=" << b;
              }
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulTypeTest, ::testing::ValuesIn(kTypes),
                         [](const ::testing::TestParamInfo<Type>& info) {
                           return std::string(quant::type_name(info.param));
                         });

// Results do not depend on the thread count, and unaligned weight rows work.
TEST(Matmul, ThreadCountAndAlignmentDoNotChangeResults) {
  IsaGuard guard;
  for (const Type type : {Type::Q4_K, Type::Q8_0, Type::F16, Type::IQ4_NL}) {
    const int64_t k = 512, n_rows = 77;
    const Weights w = make_weights(type, n_rows, k, 5);
    std::vector<uint8_t> shifted(w.bytes.size() + 1);
    std::memcpy(shifted.data() + 1, w.bytes.data(), w.bytes.size());
    for (const int64_t n_tokens : {1, 9}) {
      const std::vector<float> x = gaussian(static_cast<size_t>(n_tokens * k), 0.f, 11);
      for (const Isa isa : supported_isas()) {
        ASSERT_TRUE(force_isa(isa).ok());
        std::vector<float> first;
        for (const size_t threads : {1, 2, 4}) {
          ThreadPool pool(threads);
          std::vector<float> y(static_cast<size_t>(n_rows * n_tokens)), y2(y.size());
          ASSERT_TRUE(matmul(type, w.bytes.data(), w.row_bytes, n_rows, k, x.data(), n_tokens, y.data(), n_rows, pool).ok());
          ASSERT_TRUE(matmul(type, shifted.data() + 1, w.row_bytes, n_rows, k, x.data(), n_tokens, y2.data(), n_rows, pool)
                          .ok());
          EXPECT_EQ(y, y2) << quant::type_name(type) << " " << isa_name(isa);
          if (first.empty()) first = y;
          // Each output is computed by one thread in a fixed order: bit-identical.
          EXPECT_EQ(y, first) << quant::type_name(type) << " " << isa_name(isa) << " threads " << threads;
        }
      }
    }
  }
}

// Large enough matrices that the rows are split into several chunks per thread: every row
// still comes out bit-identical whatever the thread count.
TEST(Matmul, ChunkedRowSplitDoesNotChangeResults) {
  IsaGuard guard;
  for (const Type type : {Type::Q4_0, Type::Q8_0, Type::Q4_K, Type::Q6_K}) {
    const int64_t k = 2048, n_rows = 1000;
    const Weights w = make_weights(type, n_rows, k, 21);
    const std::vector<float> x = gaussian(static_cast<size_t>(k), 0.2f, 13);
    for (const Isa isa : supported_isas()) {
      ASSERT_TRUE(force_isa(isa).ok());
      std::vector<float> first;
      for (const size_t threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        std::vector<float> y(static_cast<size_t>(n_rows));
        ASSERT_TRUE(matmul(type, w.bytes.data(), w.row_bytes, n_rows, k, x.data(), 1, y.data(), n_rows, pool).ok());
        if (first.empty()) first = y;
        EXPECT_EQ(y, first) << quant::type_name(type) << " " << isa_name(isa) << " threads " << threads;
      }
    }
  }
}

// A grouped call gives exactly what one call per weight gives, whatever the mix of types
// (weights that prepare activations differently run in separate passes) and the shapes.
TEST(Matmul, GroupEqualsOneCallPerWeight) {
  const int64_t k = 2048;
  const std::vector<std::vector<Type>> mixes = {
      {Type::Q4_K, Type::Q4_K, Type::Q6_K},              // q, k, v of a Q4_K_M layer
      {Type::Q4_K, Type::Q4_K},                          // gate, up
      {Type::Q8_0, Type::Q4_K, Type::F16, Type::Q4_0, Type::BF16, Type::F32},  // every preparation
  };
  const int64_t rows[] = {256, 64, 512, 3, 200, 17};
  for (const auto& mix : mixes) {
    for (const int64_t n_tokens : {int64_t{1}, int64_t{5}}) {
      for (const size_t threads : {1, 2}) {
        ThreadPool pool(threads);
        MatmulScratch scratch;
        const std::vector<float> x = gaussian(static_cast<size_t>(k * n_tokens), 0.1f, 7);
        std::vector<Weights> ws;
        std::vector<std::vector<float>> want, got;
        std::vector<MatmulWeight> group;
        for (size_t i = 0; i < mix.size(); ++i) {
          ws.push_back(make_weights(mix[i], rows[i], k, 100 + static_cast<uint32_t>(i)));
          want.emplace_back(static_cast<size_t>(rows[i] * n_tokens), -1.f);
          got.emplace_back(static_cast<size_t>(rows[i] * n_tokens), -2.f);
        }
        for (size_t i = 0; i < mix.size(); ++i) {
          ASSERT_TRUE(matmul(mix[i], ws[i].bytes.data(), ws[i].row_bytes, rows[i], k, x.data(), n_tokens,
                             want[i].data(), rows[i], pool, scratch)
                          .ok());
          group.push_back({mix[i], ws[i].bytes.data(), ws[i].row_bytes, rows[i], got[i].data(), rows[i]});
        }
        ASSERT_TRUE(matmul_group(group, k, x.data(), n_tokens, pool, scratch).ok());
        for (size_t i = 0; i < mix.size(); ++i) {
          EXPECT_EQ(got[i], want[i]) << quant::type_name(mix[i]) << " in a group of " << mix.size() << ", "
                                     << n_tokens << " tokens, " << threads << " threads";
        }
      }
    }
  }
  // A bad weight anywhere in the group fails the call before anything runs, naming it.
  ThreadPool pool(2);
  MatmulScratch scratch;
  const Weights w = make_weights(Type::Q4_K, 4, k, 1);
  std::vector<float> x(static_cast<size_t>(k)), y(8, 3.f);
  const MatmulWeight bad[] = {{Type::Q4_K, w.bytes.data(), w.row_bytes, 4, y.data(), 4},
                              {Type::Q8_K, w.bytes.data(), w.row_bytes, 4, y.data() + 4, 4}};
  const Status st = matmul_group(bad, k, x.data(), 1, pool, scratch);
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported);
  EXPECT_NE(st.message().find("q8_K"), std::string::npos) << st.message();
  EXPECT_EQ(y[0], 3.f);
}

// Rows whose block count is not a multiple of 8 (the one-token kernels take 8 blocks at a
// time, then one by one), with 1 token: against the reference with the rounded activations.
TEST(Matmul, OneTokenRowsWithTailBlocks) {
  IsaGuard guard;
  ThreadPool pool(2);
  MatmulScratch scratch;
  for (const Type type : {Type::Q4_0, Type::Q8_0, Type::Q4_1, Type::IQ4_NL}) {
    for (const int64_t k : {int64_t{96}, int64_t{2080}}) {
      const int64_t n_rows = 37;
      const Weights w = make_weights(type, n_rows, k, 3);
      const std::vector<float> x = gaussian(static_cast<size_t>(k), 0.3f, 17);
      std::vector<double> ref, bound;
      reference(w, effective_acts(type, x, k), n_rows, k, 1, ref, &bound);
      for (const Isa isa : supported_isas()) {
        ASSERT_TRUE(force_isa(isa).ok());
        const std::vector<float> y = run(type, w, x, n_rows, k, 1, pool, scratch);
        for (int64_t r = 0; r < n_rows; ++r) {
          const auto i = static_cast<size_t>(r);
          EXPECT_NEAR(y[i], ref[i], 1e-4 * bound[i] + 1e-6)
              << quant::type_name(type) << " K=" << k << " r=" << r << " " << isa_name(isa);
        }
      }
    }
  }
}

// The decode kernels' software prefetch (on by default on Intel CPUs, off elsewhere) changes
// no bit of their results, whatever the distance, on every path; prefetches that reach past
// the last row (a hint, never a fault) included.
TEST(Matmul, DecodePrefetchChangesNoResult) {
  IsaGuard guard;
  struct PrefetchGuard {
    ~PrefetchGuard() { force_decode_prefetch(std::nullopt); }
  } prefetch_guard;
  ThreadPool pool(2);
  MatmulScratch scratch;
  // The one-token and few-token kernels' types, then those of the general row kernels.
  for (const Type type : {Type::Q4_0, Type::Q8_0, Type::Q4_K, Type::Q5_K, Type::Q6_K, Type::Q4_1, Type::Q5_0,
                          Type::Q5_1, Type::IQ4_NL, Type::Q2_K, Type::Q3_K, Type::IQ4_XS}) {
    const int64_t k = quant::type_info(type).block_size == 32 ? 2080 : 2048;
    const int64_t n_rows = 37;
    const Weights w = make_weights(type, n_rows, k, 5);
    const std::vector<float> x = gaussian(static_cast<size_t>(4 * k), 0.3f, 23);
    for (const Isa isa : supported_isas()) {
      ASSERT_TRUE(force_isa(isa).ok());
      // One token, and 2 and 4 tokens (the few-token kernels' single pass).
      for (const int64_t n_tokens : {int64_t{1}, int64_t{2}, int64_t{4}}) {
        force_decode_prefetch(0);
        const std::vector<float> plain = run(type, w, x, n_rows, k, n_tokens, pool, scratch);
        for (const int64_t ahead : {int64_t{64}, int64_t{2048}, int64_t{65536}}) {
          force_decode_prefetch(ahead);
          EXPECT_EQ(run(type, w, x, n_rows, k, n_tokens, pool, scratch), plain)
              << quant::type_name(type) << " " << isa_name(isa) << " " << n_tokens << " tokens, prefetch " << ahead;
        }
      }
    }
  }
}

// A batched decode step (2-8 tokens, one per stream) gives each token exactly what it gets
// alone, whatever the thread count, and matches the reference with the rounded activations.
// K = 2080 / 4352: block counts that are not multiples of 8 (the 32-value kernels' tails);
// 37 rows span several row tiles and chunks.
TEST(Matmul, BatchedDecodeEqualsOneTokenAtATime) {
  IsaGuard guard;
  MatmulScratch scratch;
  for (const Type type : {Type::Q4_0, Type::Q8_0, Type::Q4_K, Type::Q6_K, Type::Q5_K}) {
    const int64_t k = is_k_quant(type) ? 4352 : 2080, n_rows = 37, max_tokens = 8;
    const Weights w = make_weights(type, n_rows, k, 5);
    const std::vector<float> x = gaussian(static_cast<size_t>(max_tokens * k), 0.1f, 23);
    std::vector<double> ref, bound;
    reference(w, effective_acts(type, x, k), n_rows, k, max_tokens, ref, &bound);
    for (const Isa isa : supported_isas()) {
      ASSERT_TRUE(force_isa(isa).ok());
      ThreadPool one(1);
      std::vector<float> alone;  // [t][r], each token by itself
      for (int64_t t = 0; t < max_tokens; ++t) {
        const std::vector<float> x1(x.begin() + t * k, x.begin() + (t + 1) * k);
        const std::vector<float> y = run(type, w, x1, n_rows, k, 1, one, scratch);
        alone.insert(alone.end(), y.begin(), y.end());
      }
      for (const int64_t n_tokens : {2, 3, 4, 5, 6, 7, 8}) {
        for (const size_t threads : {1, 2, 3}) {
          SCOPED_TRACE(std::string(quant::type_name(type)) + " " + std::string(isa_name(isa)) + " tokens " +
                       std::to_string(n_tokens) + " threads " + std::to_string(threads));
          ThreadPool pool(threads);
          const std::vector<float> y = run(type, w, x, n_rows, k, n_tokens, pool, scratch);
          int bad = 0;
          for (int64_t t = 0; t < n_tokens && bad < 5; ++t) {
            for (int64_t r = 0; r < n_rows && bad < 5; ++r) {
              const auto i = static_cast<size_t>(t * n_rows + r);
              EXPECT_NEAR(y[i], ref[i], 1e-4 * bound[i] + 1e-6) << "t=" << t << " r=" << r;
              // The AVX-512 batched kernels (q4_K, q6_K) repeat the one-token kernels'
              // arithmetic exactly; elsewhere only the tolerance holds.
              const bool exact = isa == Isa::kAvx512 && (type == Type::Q4_K || type == Type::Q6_K);
              if (exact && y[i] != alone[i]) {
                ADD_FAILURE() << "t=" << t << " r=" << r << " batched " << y[i] << " alone " << alone[i];
                ++bad;
              }
            }
          }
        }
      }
    }
  }
}

// Zero activations give exactly zero; random blocks written directly (synth's weights)
// work like quantized floats.
// Non-finite activations (an inf or NaN from a corrupt weight upstream) quantize the same on
// every path, without undefined behaviour: a NaN product becomes 0, as in the scalar path.
TEST(Matmul, NonFiniteActivationsQuantizeAlikeOnEveryPath) {
  const int64_t k = 256;
  std::vector<float> x = gaussian(static_cast<size_t>(k), 0.f, 5);
  x[3] = std::numeric_limits<float>::infinity();
  x[40] = -std::numeric_limits<float>::infinity();
  x[77] = std::numeric_limits<float>::quiet_NaN();
  x[200] = std::numeric_limits<float>::quiet_NaN();  // a group with only a NaN
  struct Out {
    std::vector<int8_t> qs = std::vector<int8_t>(256);
    std::vector<float> d32 = std::vector<float>(8), s32 = std::vector<float>(8), s16 = std::vector<float>(16);
    std::vector<int32_t> neg32 = std::vector<int32_t>(8), neg16 = std::vector<int32_t>(16);
    std::vector<int16_t> b16 = std::vector<int16_t>(16);
    ActRowOut row() { return {qs.data(), d32.data(), s32.data(), neg32.data(), s16.data(), b16.data(), neg16.data()}; }
  };
  for (const ActMode mode : {ActMode::kPer32, ActMode::kPer256}) {
    Out want;
    scalar_kernels().quantize_acts(x.data(), k, mode, want.row());
    for (const Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
      const IsaKernels* kernels = isa == Isa::kAvx2 ? avx2_kernels() : avx512_kernels();
      if (kernels == nullptr || !isa_supported(isa)) continue;
      Out got;
      kernels->quantize_acts(x.data(), k, mode, got.row());
      EXPECT_EQ(got.qs, want.qs);
      EXPECT_EQ(got.neg32, want.neg32);
      EXPECT_EQ(got.neg16, want.neg16);
      EXPECT_EQ(got.b16, want.b16);
    }
  }
}

TEST(Matmul, ZeroActivationsAndSynthWeights) {
  IsaGuard guard;
  ThreadPool pool(2);
  for (const Type type : kTypes) {
    const int64_t k = 768, n_rows = 20;
    Weights w;
    w.row_bytes = quant::row_bytes(type, k).value();
    w.bytes.resize(w.row_bytes * n_rows);
    w.deq.resize(static_cast<size_t>(n_rows * k));
    for (int64_t r = 0; r < n_rows; ++r) {
      ASSERT_TRUE(quant::fill_random_row(type, 1234 + static_cast<uint64_t>(r), 0.5f, w.bytes.data() + r * w.row_bytes, k).ok());
      ASSERT_TRUE(quant::dequantize_row(type, w.bytes.data() + r * w.row_bytes, w.deq.data() + r * k, k).ok());
    }
    for (const Isa isa : supported_isas()) {
      ASSERT_TRUE(force_isa(isa).ok());
      for (const int64_t n_tokens : {1, 5}) {
        std::vector<float> zeros(static_cast<size_t>(n_tokens * k), 0.f);
        std::vector<float> y(static_cast<size_t>(n_rows * n_tokens), 1.f);
        ASSERT_TRUE(matmul(type, w.bytes.data(), w.row_bytes, n_rows, k, zeros.data(), n_tokens, y.data(), n_rows, pool).ok());
        for (float v : y) EXPECT_EQ(v, 0.f) << quant::type_name(type) << " " << isa_name(isa);

        const std::vector<float> x = gaussian(static_cast<size_t>(n_tokens * k), 0.f, 3);
        std::vector<double> ref, bound;
        reference(w, x, n_rows, k, n_tokens, ref, &bound);
        ASSERT_TRUE(matmul(type, w.bytes.data(), w.row_bytes, n_rows, k, x.data(), n_tokens, y.data(), n_rows, pool).ok());
        for (size_t i = 0; i < y.size(); ++i) {
          EXPECT_NEAR(y[i], ref[i], 0.01 * bound[i] + 1e-6) << quant::type_name(type) << " " << isa_name(isa) << " i=" << i;
        }
      }
    }
  }
}

// Sets every quantized code of a row (all blocks) to `code_byte`, keeping the block scales:
// the largest codes meet the kernels' integer limits (16-bit pair sums on AVX2).
void set_codes(Type type, uint8_t* row, int64_t k, uint8_t code_byte) {
  struct Field {
    size_t offset, size;
  };
  std::vector<Field> fields;
  size_t block = 0;
  int64_t per_block = 32;
  switch (type) {
#define STRATA_CODES(T, ...)                  \
  block = sizeof(quant::T);                   \
  fields = {__VA_ARGS__};                     \
  break;
#define STRATA_FIELD(T, f) Field{offsetof(quant::T, f), sizeof(quant::T::f)}
    case Type::Q4_0: STRATA_CODES(BlockQ4_0, STRATA_FIELD(BlockQ4_0, qs))
    case Type::Q4_1: STRATA_CODES(BlockQ4_1, STRATA_FIELD(BlockQ4_1, qs))
    case Type::Q5_0: STRATA_CODES(BlockQ5_0, STRATA_FIELD(BlockQ5_0, qh), STRATA_FIELD(BlockQ5_0, qs))
    case Type::Q5_1: STRATA_CODES(BlockQ5_1, STRATA_FIELD(BlockQ5_1, qh), STRATA_FIELD(BlockQ5_1, qs))
    case Type::Q8_0: STRATA_CODES(BlockQ8_0, STRATA_FIELD(BlockQ8_0, qs))
    case Type::IQ4_NL: STRATA_CODES(BlockIQ4_NL, STRATA_FIELD(BlockIQ4_NL, qs))
    case Type::Q2_K: per_block = 256; STRATA_CODES(BlockQ2_K, STRATA_FIELD(BlockQ2_K, qs))
    case Type::Q3_K: per_block = 256; STRATA_CODES(BlockQ3_K, STRATA_FIELD(BlockQ3_K, hmask), STRATA_FIELD(BlockQ3_K, qs))
    case Type::Q4_K: per_block = 256; STRATA_CODES(BlockQ4_K, STRATA_FIELD(BlockQ4_K, qs))
    case Type::Q5_K: per_block = 256; STRATA_CODES(BlockQ5_K, STRATA_FIELD(BlockQ5_K, qh), STRATA_FIELD(BlockQ5_K, qs))
    case Type::Q6_K: per_block = 256; STRATA_CODES(BlockQ6_K, STRATA_FIELD(BlockQ6_K, ql), STRATA_FIELD(BlockQ6_K, qh))
    case Type::IQ4_XS: per_block = 256; STRATA_CODES(BlockIQ4_XS, STRATA_FIELD(BlockIQ4_XS, qs))
#undef STRATA_FIELD
#undef STRATA_CODES
    default: return;  // float types have no codes
  }
  for (int64_t b = 0; b < k / per_block; ++b) {
    for (const Field& f : fields) std::memset(row + static_cast<size_t>(b) * block + f.offset, code_byte, f.size);
  }
}

// Every code at its largest (0xFF bytes: 15 for 4-bit codes, 31 for 5-bit, 63 for q6_K; q8_0
// also at -128) times activations all at +-127 after rounding: the worst case for sums kept
// in 16 bits. Every path, the one-token, few-token and panel kernels, against the exact
// product (the constant activations round without error).
TEST(Matmul, LargestCodesStayExactOnEveryPath) {
  IsaGuard guard;
  ThreadPool pool(2);
  MatmulScratch scratch;
  const int64_t k = 2048, n_rows = 19;
  for (const Type type : kTypes) {
    if (type == Type::F32 || type == Type::F16 || type == Type::BF16) continue;
    for (const uint8_t code_byte : {uint8_t{0xFF}, uint8_t{0x80}}) {
      if (code_byte == 0x80 && type != Type::Q8_0) continue;
      Weights w;
      w.row_bytes = quant::row_bytes(type, k).value();
      w.bytes.resize(w.row_bytes * n_rows);
      w.deq.resize(static_cast<size_t>(n_rows * k));
      for (int64_t r = 0; r < n_rows; ++r) {
        uint8_t* row = w.bytes.data() + r * w.row_bytes;
        ASSERT_TRUE(quant::fill_random_row(type, 77 + static_cast<uint64_t>(r), 0.5f, row, k).ok());
        set_codes(type, row, k, code_byte);
        ASSERT_TRUE(quant::dequantize_row(type, row, w.deq.data() + r * k, k).ok());
      }
      for (const float sign : {1.f, -1.f}) {
        for (const int64_t n_tokens : {1, 2, 4, 8, 16}) {
          const std::vector<float> x(static_cast<size_t>(n_tokens * k), sign * 0.75f);
          std::vector<double> ref, bound;
          reference(w, x, n_rows, k, n_tokens, ref, &bound);
          for (const Isa isa : supported_isas()) {
            ASSERT_TRUE(force_isa(isa).ok());
            const std::vector<float> y = run(type, w, x, n_rows, k, n_tokens, pool, scratch);
            for (size_t i = 0; i < y.size(); ++i) {
              ASSERT_NEAR(y[i], ref[i], 1e-4 * bound[i] + 1e-6)
                  << quant::type_name(type) << " codes 0x" << std::hex << int{code_byte} << std::dec << " x " << sign
                  << " tokens " << n_tokens << " path " << isa_name(isa) << " i=" << i;
            }
          }
        }
      }
    }
  }
}

TEST(Matmul, ScratchStopsGrowing) {
  ThreadPool pool(2);
  MatmulScratch scratch;
  const int64_t k = 1024, n_rows = 32, n_tokens = 16;
  const Weights w = make_weights(Type::Q4_0, n_rows, k, 1);
  const std::vector<float> x = gaussian(static_cast<size_t>(n_tokens * k), 0.f, 2);
  std::vector<float> y(static_cast<size_t>(n_rows * n_tokens));
  ASSERT_TRUE(matmul(Type::Q4_0, w.bytes.data(), w.row_bytes, n_rows, k, x.data(), n_tokens, y.data(), n_rows, pool,
                     scratch).ok());
  const size_t held = scratch.bytes();
  EXPECT_GT(held, 0u);
  for (const int64_t t : {1, 8, 16}) {
    ASSERT_TRUE(matmul(Type::Q4_0, w.bytes.data(), w.row_bytes, n_rows, k, x.data(), t, y.data(), n_rows, pool, scratch).ok());
    EXPECT_EQ(scratch.bytes(), held);
  }
}

TEST(Matmul, CanMatmul) {
  for (const Type type : kTypes) EXPECT_TRUE(can_matmul(type)) << quant::type_name(type);
  for (const Type type : {Type::Q8_K, Type::Q8_1, Type::IQ2_XXS, Type::I32, Type::F64, Type::MXFP4}) {
    EXPECT_FALSE(can_matmul(type)) << quant::type_name(type);
  }
}

TEST(Matmul, RejectsBadArguments) {
  ThreadPool pool(2);
  std::vector<uint8_t> w(4096 * 4);
  std::vector<float> x(4096), y(64);
  auto call = [&](Type type, size_t row_bytes, int64_t n_rows, int64_t k, int64_t n_tokens, int64_t y_stride,
                  const void* wp, const float* xp, float* yp) {
    return matmul(type, wp, row_bytes, n_rows, k, xp, n_tokens, yp, y_stride, pool);
  };
  // Unsupported types name the type and what would work.
  Status st = call(Type::Q8_K, 292, 1, 256, 1, 1, w.data(), x.data(), y.data());
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported);
  EXPECT_NE(st.message().find("q8_K"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("q4_K"), std::string::npos) << st.message();
  EXPECT_EQ(call(Type::I32, 4, 1, 16, 1, 1, w.data(), x.data(), y.data()).code(), ErrorCode::kUnsupported);
  // K not a multiple of the block size, or not positive.
  st = call(Type::Q4_K, 144, 1, 128, 1, 1, w.data(), x.data(), y.data());
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("256"), std::string::npos) << st.message();
  EXPECT_EQ(call(Type::Q4_0, 18, 1, 48, 1, 1, w.data(), x.data(), y.data()).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(call(Type::F32, 4, 1, 0, 1, 1, w.data(), x.data(), y.data()).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(call(Type::F32, 4, 1, -4, 1, 1, w.data(), x.data(), y.data()).code(), ErrorCode::kInvalidArgument);
  // Rows too short for K.
  EXPECT_EQ(call(Type::Q8_0, 33, 1, 32, 1, 1, w.data(), x.data(), y.data()).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(call(Type::F16, 100, 1, 64, 1, 1, w.data(), x.data(), y.data()).code(), ErrorCode::kInvalidArgument);
  // Output stride, negative or absurd sizes, null pointers.
  EXPECT_EQ(call(Type::F32, 64, 4, 16, 1, 3, w.data(), x.data(), y.data()).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(call(Type::F32, 64, -1, 16, 1, 1, w.data(), x.data(), y.data()).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(call(Type::F32, 64, 1, 16, -2, 1, w.data(), x.data(), y.data()).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(call(Type::F32, 64, 1, 16, int64_t{1} << 40, 1, w.data(), x.data(), y.data()).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(call(Type::F32, 64, 1, 16, 1, 1, nullptr, x.data(), y.data()).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(call(Type::F32, 64, 1, 16, 1, 1, w.data(), nullptr, y.data()).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(call(Type::F32, 64, 1, 16, 1, 1, w.data(), x.data(), nullptr).code(), ErrorCode::kInvalidArgument);
  // Nothing to compute is fine and writes nothing.
  y.assign(y.size(), 5.f);
  EXPECT_TRUE(call(Type::Q4_0, 18, 4, 32, 0, 4, w.data(), x.data(), y.data()).ok());
  EXPECT_TRUE(call(Type::Q4_0, 18, 0, 32, 3, 0, w.data(), x.data(), y.data()).ok());
  EXPECT_EQ(y[0], 5.f);
}

TEST(CpuIsa, DetectionAndOverride) {
  IsaGuard guard;
  EXPECT_TRUE(isa_supported(Isa::kScalar));
  EXPECT_TRUE(isa_supported(detected_isa()));
  EXPECT_EQ(active_isa(), detected_isa());
  ASSERT_TRUE(force_isa(Isa::kScalar).ok());
  EXPECT_EQ(active_isa(), Isa::kScalar);
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    const Status st = force_isa(isa);
    EXPECT_EQ(st.ok(), isa_supported(isa)) << st.to_string();
  }
  ASSERT_TRUE(force_isa(std::nullopt).ok());
  EXPECT_EQ(active_isa(), detected_isa());
}

}  // namespace
}  // namespace strata::backend::cpu
