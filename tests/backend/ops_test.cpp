// The non-matmul CPU ops (get_rows, rms_norm, rope, swiglu, add, add_bias, scale) against
// plain scalar references, on every kernel path this CPU can run, with one and two threads,
// row lengths that are and are not multiples of the vector width, and their argument errors.
//
// Tolerances (each next to its test): rms_norm and the element-wise ops follow the reference's
// arithmetic and must match it to 2 ulp (only the order of rms_norm's double sum differs);
// swiglu's exp is a polynomial, held to 5e-7 relative against double precision; rope is held
// to 1e-6 against a float reference of llama.cpp's algorithm (angles equal bit for bit) and,
// against double precision, to the error that llama.cpp's float angles carry (see
// rope_double_tolerance).
#include "backend/cpu/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/ops_rope.h"
#include "core/thread_pool.h"
#include "quant/convert.h"
#include "quant/type.h"

namespace strata::backend::cpu {
namespace {

using quant::Type;

// Lengths around the 8- and 16-float vector widths, model sizes, and odd ones.
const int64_t kLengths[] = {1, 7, 8, 15, 16, 17, 33, 100, 2048, 4099};
// Enough tokens at the longest rows to go past the threading threshold.
const int64_t kTokenCounts[] = {1, 3, 12};

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

std::vector<float> gaussian(size_t n, float sigma, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, sigma);
  std::vector<float> v(n);
  for (float& f : v) f = dist(gen);
  return v;
}

// |a - b| <= ulps * 2^-23 * |b|: `ulps` units in the last place of b, or up to twice that at
// the bottom of a binade (and exact for zero).
bool within_ulps(float a, double b, double ulps) {
  return std::fabs(a - b) <= ulps * std::ldexp(1.0, -23) * std::fabs(b) + 1e-38;
}

// Runs `body(isa, pool)` on every path with 1 and 2 threads.
template <typename Body>
void for_each_path(const Body& body) {
  IsaGuard guard;
  ThreadPool one(1), two(2);
  for (const Isa isa : supported_isas()) {
    ASSERT_TRUE(force_isa(isa).ok());
    for (ThreadPool* pool : {&one, &two}) {
      SCOPED_TRACE(std::string("path=") + std::string(isa_name(isa)) + " threads=" + std::to_string(pool->size()));
      body(isa, *pool);
    }
  }
}

// ---------------------------------------------------------------- rms_norm

// llama.cpp's RMSNorm written plainly: squares rounded to float, summed in order in double,
// mean and scale in float, then (x * scale) * w.
std::vector<float> rms_norm_reference(const std::vector<float>& x, const float* w, int64_t n_tokens, int64_t n,
                                      float eps) {
  std::vector<float> y(x.size());
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* xt = x.data() + t * n;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(xt[i] * xt[i]);
    const auto mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    for (int64_t i = 0; i < n; ++i) y[t * n + i] = w != nullptr ? (xt[i] * scale) * w[i] : xt[i] * scale;
  }
  return y;
}

// Tolerance: 2 ulp of the reference; the double sum's order differs between paths, which can
// move the float mean by one rounding step, and nothing else differs. Also within 4 ulp of
// the exact formula in double.
TEST(CpuOpsRmsNorm, MatchesReferenceOnEveryPath) {
  for_each_path([](Isa, ThreadPool& pool) {
    for (const int64_t n : kLengths) {
      for (const int64_t n_tokens : kTokenCounts) {
        SCOPED_TRACE("n=" + std::to_string(n) + " tokens=" + std::to_string(n_tokens));
        const auto size = static_cast<size_t>(n * n_tokens);
        const std::vector<float> x = gaussian(size, 3.f, static_cast<uint32_t>(n * 31 + n_tokens));
        const std::vector<float> w = gaussian(static_cast<size_t>(n), 1.f, static_cast<uint32_t>(n));
        for (const float eps : {1e-5f, 1e-6f, 0.5f}) {
          const std::vector<float> ref = rms_norm_reference(x, w.data(), n_tokens, n, eps);
          std::vector<float> y(size, -1.f);
          ASSERT_TRUE(rms_norm(x.data(), w.data(), y.data(), n_tokens, n, eps, pool).ok());
          std::vector<float> in_place = x;
          ASSERT_TRUE(rms_norm(in_place.data(), w.data(), in_place.data(), n_tokens, n, eps, pool).ok());
          EXPECT_EQ(in_place, y);
          int bad = 0;
          for (int64_t t = 0; t < n_tokens; ++t) {
            double ss = 0;
            for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[t * n + i]) * x[t * n + i];
            const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
            for (int64_t i = 0; i < n && bad < 5; ++i) {
              const size_t j = static_cast<size_t>(t * n + i);
              const double exact = x[j] * inv * w[static_cast<size_t>(i)];
              if (!within_ulps(y[j], ref[j], 2) || !within_ulps(y[j], exact, 4)) {
                ++bad;
                ADD_FAILURE() << "t=" << t << " i=" << i << " y=" << y[j] << " ref=" << ref[j] << " exact=" << exact;
              }
            }
          }
        }
        // No weight means unit weights.
        std::vector<float> y(size);
        ASSERT_TRUE(rms_norm(x.data(), nullptr, y.data(), n_tokens, n, 1e-5f, pool).ok());
        const std::vector<float> ref = rms_norm_reference(x, nullptr, n_tokens, n, 1e-5f);
        for (size_t j = 0; j < size; ++j) ASSERT_TRUE(within_ulps(y[j], ref[j], 2)) << j;
      }
    }
  });
}

TEST(CpuOpsRmsNorm, ZeroInputAndEpsilon) {
  for_each_path([](Isa, ThreadPool& pool) {
    const int64_t n = 37;
    std::vector<float> zeros(static_cast<size_t>(2 * n), 0.f);
    const std::vector<float> w(static_cast<size_t>(n), 2.f);
    std::vector<float> y(zeros.size(), -1.f);
    // eps keeps an all-zero row finite: 0 * (1 / sqrt(eps)) * w = 0.
    ASSERT_TRUE(rms_norm(zeros.data(), w.data(), y.data(), 2, n, 1e-5f, pool).ok());
    for (float v : y) EXPECT_EQ(v, 0.f);
    // Without eps it is 0 * inf, NaN, as in llama.cpp (documented, not an error).
    ASSERT_TRUE(rms_norm(zeros.data(), w.data(), y.data(), 2, n, 0.f, pool).ok());
    for (float v : y) EXPECT_TRUE(std::isnan(v));
    // eps dominates a tiny row: y = x / sqrt(mean + eps) * w.
    std::vector<float> tiny(static_cast<size_t>(n), 1e-4f);
    ASSERT_TRUE(rms_norm(tiny.data(), w.data(), y.data(), 1, n, 1.f, pool).ok());
    const double expect = 1e-4 / std::sqrt(1e-8 + 1.0) * 2.0;
    for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(within_ulps(y[static_cast<size_t>(i)], expect, 4));
    // A constant row normalizes to the weights (|x| / rms(x) = 1).
    std::vector<float> constant(static_cast<size_t>(n), -3.f);
    ASSERT_TRUE(rms_norm(constant.data(), w.data(), y.data(), 1, n, 0.f, pool).ok());
    for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(within_ulps(y[static_cast<size_t>(i)], -2.0, 2));
  });
}

TEST(CpuOpsRmsNorm, RejectsBadArguments) {
  ThreadPool pool(1);
  std::vector<float> x(8, 1.f);
  for (const float eps : {-1e-5f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    const Status st = rms_norm(x.data(), nullptr, x.data(), 1, 8, eps, pool);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(st.message().find("epsilon"), std::string::npos) << st.message();
  }
  EXPECT_FALSE(rms_norm(x.data(), nullptr, x.data(), 1, 0, 1e-5f, pool).ok());
  EXPECT_FALSE(rms_norm(x.data(), nullptr, x.data(), -1, 8, 1e-5f, pool).ok());
  EXPECT_FALSE(rms_norm(nullptr, nullptr, x.data(), 1, 8, 1e-5f, pool).ok());
  EXPECT_FALSE(rms_norm(x.data(), nullptr, x.data(), std::numeric_limits<int64_t>::max() / 2, 8, 1e-5f, pool).ok());
  // Zero tokens is a no-op, even with null buffers.
  EXPECT_TRUE(rms_norm(nullptr, nullptr, nullptr, 0, 8, 1e-5f, pool).ok());
}

// ---------------------------------------------------------------- swiglu

double swiglu_reference(float g, float u) {
  return static_cast<double>(g) / (1.0 + std::exp(-static_cast<double>(g))) * u;
}

// Tolerance: 5e-7 relative (about 4 ulp; 1.7e-7 seen) against double precision; the exp is
// within 2 ulp and the division and product add one each. Where the true value is below
// 1e-36 in magnitude (g < -88) the op returns 0.
TEST(CpuOpsSwiglu, MatchesDoubleReferenceOnEveryPath) {
  for_each_path([](Isa, ThreadPool& pool) {
    for (const int64_t n : kLengths) {
      for (const int64_t n_tokens : kTokenCounts) {
        SCOPED_TRACE("n=" + std::to_string(n) + " tokens=" + std::to_string(n_tokens));
        const auto size = static_cast<size_t>(n * n_tokens);
        std::vector<float> g = gaussian(size, 4.f, static_cast<uint32_t>(n + 7 * n_tokens));
        const std::vector<float> u = gaussian(size, 1.f, static_cast<uint32_t>(n * 3 + n_tokens));
        // Spread the edges of exp's range over the lanes.
        const float edges[] = {-200.f, -88.5f, -87.9f, -87.1f, -20.f, -1e-30f, 0.f, 1e-30f, 20.f, 86.9f, 87.5f, 200.f};
        for (size_t i = 0; i < std::size(edges) && i * 5 < size; ++i) g[i * 5] = edges[i];
        std::vector<float> out(size, -1.f);
        ASSERT_TRUE(swiglu(g.data(), u.data(), out.data(), n_tokens, n, pool).ok());
        int bad = 0;
        for (size_t j = 0; j < size && bad < 5; ++j) {
          const double ref = swiglu_reference(g[j], u[j]);
          if (!(std::fabs(out[j] - ref) <= 5e-7 * std::fabs(ref) + 1e-35)) {
            ++bad;
            ADD_FAILURE() << "j=" << j << " g=" << g[j] << " u=" << u[j] << " out=" << out[j] << " ref=" << ref;
          }
        }
        // In place over either input gives the same values.
        std::vector<float> over_gate = g, over_up = u;
        ASSERT_TRUE(swiglu(over_gate.data(), u.data(), over_gate.data(), n_tokens, n, pool).ok());
        ASSERT_TRUE(swiglu(g.data(), over_up.data(), over_up.data(), n_tokens, n, pool).ok());
        EXPECT_EQ(over_gate, out);
        EXPECT_EQ(over_up, out);
      }
    }
  });
}

TEST(CpuOpsSwiglu, SpecialValues) {
  for_each_path([](Isa, ThreadPool& pool) {
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> g = {inf, -inf, nan, 1.f, 100.f, -100.f, 0.f, 5.f, -5.f};
    const std::vector<float> u = {1.f, 1.f, 1.f, nan, 2.f, 2.f, 3.f, 0.f, 1.f};
    std::vector<float> out(g.size());
    ASSERT_TRUE(swiglu(g.data(), u.data(), out.data(), 1, static_cast<int64_t>(g.size()), pool).ok());
    EXPECT_EQ(out[0], inf);
    EXPECT_EQ(out[1], 0.f);
    EXPECT_TRUE(std::isnan(out[2]));
    EXPECT_TRUE(std::isnan(out[3]));
    EXPECT_EQ(out[4], 200.f);
    EXPECT_EQ(out[5], 0.f);
    EXPECT_EQ(out[6], 0.f);
    EXPECT_EQ(out[7], 0.f);
    EXPECT_TRUE(within_ulps(out[8], swiglu_reference(-5.f, 1.f), 8));
  });
}

// ---------------------------------------------------------------- add, add_bias, scale

// One float operation per element, so every path must equal the reference exactly.
TEST(CpuOpsElementwise, AddAddBiasScaleMatchReferenceOnEveryPath) {
  for_each_path([](Isa, ThreadPool& pool) {
    for (const int64_t n : kLengths) {
      for (const int64_t n_tokens : kTokenCounts) {
        SCOPED_TRACE("n=" + std::to_string(n) + " tokens=" + std::to_string(n_tokens));
        const auto size = static_cast<size_t>(n * n_tokens);
        const std::vector<float> a = gaussian(size, 2.f, static_cast<uint32_t>(n + n_tokens));
        const std::vector<float> b = gaussian(size, 2.f, static_cast<uint32_t>(2 * n + n_tokens));
        std::vector<float> sum_ref(size), scaled_ref(size);
        for (size_t j = 0; j < size; ++j) {
          sum_ref[j] = a[j] + b[j];
          scaled_ref[j] = a[j] * 0.125f * 3.f;
        }
        std::vector<float> out(size);
        ASSERT_TRUE(add(a.data(), b.data(), out.data(), n_tokens, n, pool).ok());
        EXPECT_EQ(out, sum_ref);
        std::vector<float> residual = a;  // the residual add: in place
        ASSERT_TRUE(add(residual.data(), b.data(), residual.data(), n_tokens, n, pool).ok());
        EXPECT_EQ(residual, sum_ref);
        residual = b;
        ASSERT_TRUE(add(a.data(), residual.data(), residual.data(), n_tokens, n, pool).ok());
        EXPECT_EQ(residual, sum_ref);

        ASSERT_TRUE(scale(a.data(), 0.125f * 3.f, out.data(), n_tokens, n, pool).ok());
        EXPECT_EQ(out, scaled_ref);
        std::vector<float> scaled = a;
        ASSERT_TRUE(scale(scaled.data(), 0.125f * 3.f, scaled.data(), n_tokens, n, pool).ok());
        EXPECT_EQ(scaled, scaled_ref);

        // Bias on a slice of wider rows (a fused projection): the rest of each row untouched.
        const int64_t stride = n + 5;
        std::vector<float> wide(static_cast<size_t>(stride * n_tokens));
        for (size_t j = 0; j < wide.size(); ++j) wide[j] = static_cast<float>(j % 97) - 40.f;
        const std::vector<float> before = wide;
        const std::vector<float> bias = gaussian(static_cast<size_t>(n), 1.f, 5);
        ASSERT_TRUE(add_bias(wide.data(), bias.data(), n_tokens, n, pool, stride).ok());
        for (int64_t t = 0; t < n_tokens; ++t) {
          for (int64_t i = 0; i < stride; ++i) {
            const size_t j = static_cast<size_t>(t * stride + i);
            const float expect = i < n ? before[j] + bias[static_cast<size_t>(i)] : before[j];
            ASSERT_EQ(wide[j], expect) << "t=" << t << " i=" << i;
          }
        }
        std::vector<float> packed = a;
        ASSERT_TRUE(add_bias(packed.data(), bias.data(), n_tokens, n, pool).ok());
        for (size_t j = 0; j < size; ++j) ASSERT_EQ(packed[j], a[j] + bias[j % static_cast<size_t>(n)]);
      }
    }
  });
}

TEST(CpuOpsElementwise, RejectsBadArguments) {
  ThreadPool pool(1);
  std::vector<float> x(16, 1.f);
  float* p = x.data();
  EXPECT_FALSE(add(p, p, p, -1, 4, pool).ok());
  EXPECT_FALSE(add(p, nullptr, p, 1, 4, pool).ok());
  EXPECT_FALSE(swiglu(p, p, p, 1, 0, pool).ok());
  EXPECT_FALSE(swiglu(nullptr, p, p, 1, 4, pool).ok());
  EXPECT_FALSE(scale(p, 2.f, nullptr, 1, 4, pool).ok());
  EXPECT_FALSE(add_bias(p, nullptr, 1, 4, pool).ok());
  const Status st = add_bias(p, p, 2, 8, pool, 4);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("stride 4"), std::string::npos) << st.message();
  EXPECT_FALSE(add(p, p, p, std::numeric_limits<int64_t>::max(), 2, pool).ok());
  EXPECT_TRUE(add(nullptr, nullptr, nullptr, 0, 4, pool).ok());
}

// ---------------------------------------------------------------- rope

struct RopeCase {
  int64_t head_dim;
  int64_t rope_dim;
  RopeMode mode;
  float freq_base;
  bool factors;
  float freq_scale;
};

const RopeCase kRopeCases[] = {
    {128, 128, RopeMode::kNormal, 10000.f, false, 1.f},  // llama 2
    {128, 128, RopeMode::kNormal, 500000.f, true, 1.f},  // llama 3.1 (rope_freqs)
    {128, 128, RopeMode::kNeox, 1000000.f, false, 1.f},  // qwen2.5
    {128, 128, RopeMode::kNeox, 10000.f, true, 1.f},
    {64, 64, RopeMode::kNormal, 10000.f, false, 0.25f},  // linear scaling
    {64, 64, RopeMode::kNeox, 10000.f, false, 1.f},
    {80, 80, RopeMode::kNormal, 10000.f, true, 1.f},  // rope_dim not a multiple of 16
    {80, 80, RopeMode::kNeox, 10000.f, false, 1.f},
    {64, 32, RopeMode::kNormal, 10000.f, false, 1.f},  // partial rotation
    {64, 20, RopeMode::kNeox, 10000.f, true, 1.f},
    {64, 36, RopeMode::kNormal, 10000.f, true, 1.f},  // rope_dim with a tail after 8-wide steps
    {10, 10, RopeMode::kNormal, 10000.f, false, 1.f},
    {6, 6, RopeMode::kNeox, 10000.f, false, 1.f},
};
const int32_t kPositions[] = {0, 1, 2, 3, 17, 100, 1000, 4095, 4096, 32767};

std::vector<float> factors_for(const RopeCase& c) {
  if (!c.factors) return {};
  // Llama-3.1-like: high frequencies unchanged, low ones divided by up to 8, a ramp between.
  std::vector<float> f(static_cast<size_t>(c.rope_dim / 2));
  for (size_t i = 0; i < f.size(); ++i) {
    const double r = static_cast<double>(i) / static_cast<double>(f.size());
    f[i] = r < 0.4 ? 1.f : r > 0.7 ? 8.f : static_cast<float>(1.0 + 7.0 * (r - 0.4) / 0.3);
  }
  return f;
}

// llama.cpp's angle for pair i at position p, computed as it does: the power of the theta
// scale multiplied up in float, divided by the factor, times freq_scale.
std::vector<float> ggml_angles(const RopeCase& c, const std::vector<float>& ff, int32_t pos) {
  const float theta_scale = std::pow(c.freq_base, -2.0f / static_cast<float>(c.rope_dim));
  std::vector<float> out(static_cast<size_t>(c.rope_dim / 2));
  float theta = static_cast<float>(pos);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = c.freq_scale * (theta / (ff.empty() ? 1.0f : ff[i]));
    theta *= theta_scale;
  }
  return out;
}

// Indices of the two values pair i rotates.
std::pair<int64_t, int64_t> pair_dims(RopeMode mode, int64_t rope_dim, int64_t i) {
  return mode == RopeMode::kNeox ? std::pair{i, i + rope_dim / 2} : std::pair{2 * i, 2 * i + 1};
}

// Float reference of one head with llama.cpp's angles and its rotation formula.
void rope_head_reference(const RopeCase& c, const std::vector<float>& angles, float* x) {
  for (int64_t i = 0; i < c.rope_dim / 2; ++i) {
    const auto [a, b] = pair_dims(c.mode, c.rope_dim, i);
    const float cs = std::cos(angles[static_cast<size_t>(i)]);
    const float sn = std::sin(angles[static_cast<size_t>(i)]);
    const float x0 = x[a], x1 = x[b];
    x[a] = x0 * cs - x1 * sn;
    x[b] = x0 * sn + x1 * cs;
  }
}

// The double reference's tolerance for pair i: llama.cpp's float angle carries about
// 1.5 * 2^-23 relative error per multiplication by the (itself rounded) theta scale, plus
// the roundings of the factor and freq_scale, so |angle error| <= (3i + 6) 2^-24 theta_i; the
// rotation adds 3 roundings of |x0| + |x1|. At position 4095 this is up to ~2e-3 rad: the
// price of matching llama.cpp's angles rather than exact ones.
double rope_double_tolerance(int64_t i, double theta_i, double pair_magnitude) {
  const double u = std::ldexp(1.0, -24);
  return ((3.0 * static_cast<double>(i) + 6.0) * u * theta_i + 3.0 * u) * pair_magnitude + 1e-30;
}

TEST(CpuOpsRope, MatchesFloatAndDoubleReferencesOnEveryPath) {
  for_each_path([](Isa, ThreadPool& pool) {
    for (const RopeCase& c : kRopeCases) {
      SCOPED_TRACE("head_dim=" + std::to_string(c.head_dim) + " rope_dim=" + std::to_string(c.rope_dim) +
                   (c.mode == RopeMode::kNeox ? " neox" : " normal") + " base=" + std::to_string(c.freq_base) +
                   (c.factors ? " with freq_factors" : "") + " scale=" + std::to_string(c.freq_scale));
      const std::vector<float> ff = factors_for(c);
      RopeConfig config{c.head_dim, c.rope_dim, c.mode, c.freq_base, c.freq_scale, ff};
      auto table = RopeTable::create(config);
      ASSERT_TRUE(table.ok()) << table.status().to_string();
      const std::vector<int32_t> positions(std::begin(kPositions), std::end(kPositions));
      ASSERT_TRUE(table->set_positions(positions, pool).ok());
      const auto n_tokens = static_cast<int64_t>(positions.size());
      for (const int64_t n_head : {int64_t{1}, int64_t{5}, int64_t{40}}) {
        SCOPED_TRACE("heads=" + std::to_string(n_head));
        const int64_t row = n_head * c.head_dim;
        const int64_t stride = n_head == 5 ? row + 3 : row;  // a slice of a wider (fused) row
        std::vector<float> x = gaussian(static_cast<size_t>(stride * n_tokens), 1.f,
                                        static_cast<uint32_t>(c.head_dim * 7 + n_head));
        const std::vector<float> x0 = x;
        ASSERT_TRUE(rope(x.data(), n_tokens, n_head, *table, pool, n_head == 5 ? stride : 0).ok());
        int bad = 0;
        for (int64_t t = 0; t < n_tokens; ++t) {
          const int32_t pos = positions[static_cast<size_t>(t)];
          const std::vector<float> angles = ggml_angles(c, ff, pos);
          for (int64_t h = 0; h < n_head; ++h) {
            const float* in = x0.data() + t * stride + h * c.head_dim;
            const float* out = x.data() + t * stride + h * c.head_dim;
            std::vector<float> ref(in, in + c.head_dim);
            rope_head_reference(c, angles, ref.data());
            for (int64_t i = 0; i < c.rope_dim / 2 && bad < 5; ++i) {
              const auto [a, b] = pair_dims(c.mode, c.rope_dim, i);
              const double mag = std::fabs(in[a]) + std::fabs(in[b]);
              // The exact angle, in double.
              const double theta = c.freq_scale * pos *
                                   std::pow(static_cast<double>(c.freq_base),
                                            -2.0 * static_cast<double>(i) / static_cast<double>(c.rope_dim)) /
                                   (ff.empty() ? 1.0 : ff[static_cast<size_t>(i)]);
              const double ra = in[a] * std::cos(theta) - in[b] * std::sin(theta);
              const double rb = in[a] * std::sin(theta) + in[b] * std::cos(theta);
              const double tol = rope_double_tolerance(i, theta, mag);
              const bool ok = std::fabs(out[a] - ref[a]) <= 1e-6 * mag && std::fabs(out[b] - ref[b]) <= 1e-6 * mag &&
                              std::fabs(out[a] - ra) <= tol && std::fabs(out[b] - rb) <= tol;
              if (!ok) {
                ++bad;
                ADD_FAILURE() << "pos=" << pos << " head=" << h << " pair=" << i << " out=(" << out[a] << ", "
                              << out[b] << ") float ref=(" << ref[a] << ", " << ref[b] << ") double ref=(" << ra
                              << ", " << rb << ") tol=" << tol;
              }
            }
            // Past rope_dim nothing moves; position 0 is the identity.
            for (int64_t d = c.rope_dim; d < c.head_dim; ++d) ASSERT_EQ(out[d], in[d]);
            if (pos == 0) {
              for (int64_t d = 0; d < c.head_dim; ++d) ASSERT_EQ(out[d], in[d]);
            }
          }
          // Padding after the heads of a strided row is untouched.
          for (int64_t d = row; d < stride; ++d) {
            const auto j = static_cast<size_t>(t * stride + d);
            ASSERT_EQ(x[j], x0[j]);
          }
        }
      }
    }
  });
}

// The table holds exactly llama.cpp's cos/sin bits (same float angle, same libm call).
TEST(CpuOpsRope, TableHoldsGgmlAngles) {
  ThreadPool pool(2);
  for (const RopeCase& c : kRopeCases) {
    const std::vector<float> ff = factors_for(c);
    auto table = RopeTable::create({c.head_dim, c.rope_dim, c.mode, c.freq_base, c.freq_scale, ff});
    ASSERT_TRUE(table.ok());
    std::vector<int32_t> positions(300);
    for (size_t t = 0; t < positions.size(); ++t) positions[t] = static_cast<int32_t>(t * 37 % 5000);
    ASSERT_TRUE(table->set_positions(positions, pool).ok());
    for (size_t t = 0; t < positions.size(); ++t) {
      const std::vector<float> angles = ggml_angles(c, ff, positions[t]);
      const float* cs = table->cos_row(static_cast<int64_t>(t));
      const float* sn = table->sin_row(static_cast<int64_t>(t));
      for (int64_t i = 0; i < c.rope_dim / 2; ++i) {
        const auto [a, b] = pair_dims(c.mode, c.rope_dim, i);
        const float angle = angles[static_cast<size_t>(i)];
        ASSERT_EQ(cs[a], std::cos(angle));
        ASSERT_EQ(cs[b], std::cos(angle));
        ASSERT_EQ(sn[a], -std::sin(angle));
        ASSERT_EQ(sn[b], std::sin(angle));
      }
    }
  }
}

TEST(CpuOpsRope, RejectsBadArguments) {
  ThreadPool pool(1);
  auto bad = [](RopeConfig config, const char* needle) {
    auto table = RopeTable::create(std::move(config));
    ASSERT_FALSE(table.ok());
    EXPECT_EQ(table.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(table.status().message().find(needle), std::string::npos) << table.status().message();
  };
  bad({0, 0, RopeMode::kNormal, 10000.f, 1.f, {}}, "head dim 0");
  bad({64, 33, RopeMode::kNormal, 10000.f, 1.f, {}}, "33");
  bad({64, 66, RopeMode::kNeox, 10000.f, 1.f, {}}, "66");
  bad({64, -2, RopeMode::kNeox, 10000.f, 1.f, {}}, "-2");
  bad({64, 64, RopeMode::kNormal, 0.f, 1.f, {}}, "freq_base");
  bad({64, 64, RopeMode::kNormal, std::numeric_limits<float>::infinity(), 1.f, {}}, "freq_base");
  bad({64, 64, RopeMode::kNormal, 10000.f, -1.f, {}}, "freq_scale");
  bad({64, 64, RopeMode::kNormal, 10000.f, 1.f, std::vector<float>(31, 1.f)}, "need 32");
  std::vector<float> zero_factor(32, 1.f);
  zero_factor[7] = 0.f;
  bad({64, 64, RopeMode::kNormal, 10000.f, 1.f, zero_factor}, "factor 7");

  auto table = RopeTable::create({64, 0, RopeMode::kNeox, 10000.f, 1.f, {}});
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->rope_dim(), 64);  // 0 means the whole head
  const std::vector<int32_t> negative = {0, -3};
  const Status neg = table->set_positions(negative, pool);
  EXPECT_FALSE(neg.ok());
  EXPECT_NE(neg.message().find("-3"), std::string::npos) << neg.message();
  const std::vector<int32_t> positions = {5, 6};
  ASSERT_TRUE(table->set_positions(positions, pool).ok());
  std::vector<float> x(2 * 2 * 64, 1.f);
  const Status mismatch = rope(x.data(), 3, 2, *table, pool);
  EXPECT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.message().find("3 tokens"), std::string::npos) << mismatch.message();
  EXPECT_FALSE(rope(x.data(), 2, 0, *table, pool).ok());
  EXPECT_FALSE(rope(x.data(), 2, 2, *table, pool, 100).ok());
  EXPECT_FALSE(rope(nullptr, 2, 2, *table, pool).ok());
  EXPECT_TRUE(rope(x.data(), 2, 2, *table, pool).ok());
}

// ---------------------------------------------------------------- get_rows

// Every type quant can dequantize: rows equal quant::dequantize_row's bit for bit, for
// repeated and unordered ids, a row stride with padding (rows at odd addresses), and enough
// tokens to run on two threads.
TEST(CpuOpsGetRows, EveryDequantizableTypeMatchesDequantizeRow) {
  ThreadPool pool(2);
  const int64_t n_vocab = 11;
  const int64_t n_embd = 512;
  int types = 0;
  for (const quant::TypeInfo& info : quant::all_types()) {
    if (!info.can_dequantize) continue;
    ++types;
    SCOPED_TRACE(std::string(info.name));
    const size_t packed = quant::row_bytes(info.type, n_embd).value();
    for (const size_t row_bytes : {packed, packed + 3}) {
      std::vector<uint8_t> table(row_bytes * n_vocab + 1);
      uint8_t* base = table.data() + 1;  // odd base address
      std::vector<float> deq(static_cast<size_t>(n_vocab * n_embd));
      for (int64_t r = 0; r < n_vocab; ++r) {
        const std::vector<float> src = gaussian(static_cast<size_t>(n_embd), 1.f, static_cast<uint32_t>(r + 1));
        std::vector<uint8_t> row(packed);
        ASSERT_TRUE(quant::quantize_row(info.type, src.data(), row.data(), n_embd).ok());
        std::memcpy(base + r * row_bytes, row.data(), packed);
        ASSERT_TRUE(quant::dequantize_row(info.type, row.data(), deq.data() + r * n_embd, n_embd).ok());
      }
      std::vector<int32_t> ids(100);
      for (size_t t = 0; t < ids.size(); ++t) ids[t] = static_cast<int32_t>((t * 7 + 3) % n_vocab);
      ids[0] = static_cast<int32_t>(n_vocab - 1);
      ids[1] = 0;
      std::vector<float> out(ids.size() * n_embd, -1.f);
      const Status st = get_rows(info.type, base, row_bytes, n_vocab, n_embd, ids, out.data(), pool);
      ASSERT_TRUE(st.ok()) << st.to_string();
      for (size_t t = 0; t < ids.size(); ++t) {
        ASSERT_EQ(std::memcmp(out.data() + t * n_embd, deq.data() + ids[t] * n_embd, n_embd * sizeof(float)), 0)
            << "token " << t << " id " << ids[t];
      }
    }
  }
  EXPECT_GE(types, 15);
}

TEST(CpuOpsGetRows, RejectsBadArguments) {
  ThreadPool pool(1);
  const int64_t n_vocab = 4, n_embd = 32;
  std::vector<float> table(static_cast<size_t>(n_vocab * n_embd), 1.f);
  std::vector<float> out(static_cast<size_t>(3 * n_embd));
  const size_t rb = n_embd * sizeof(float);
  for (const int32_t id : {-1, 4, 1 << 30}) {
    const std::vector<int32_t> ids = {0, 1, id};
    const Status st = get_rows(Type::F32, table.data(), rb, n_vocab, n_embd, ids, out.data(), pool);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(st.message().find("token id " + std::to_string(id) + " at position 2"), std::string::npos)
        << st.message();
    EXPECT_NE(st.message().find("vocabulary of 4"), std::string::npos) << st.message();
  }
  const std::vector<int32_t> ids = {0, 3};
  const Status unsupported_type = get_rows(Type::IQ2_XXS, table.data(), 66, n_vocab, 256, ids, out.data(), pool);
  EXPECT_EQ(unsupported_type.code(), ErrorCode::kUnsupported);
  EXPECT_NE(unsupported_type.message().find("iq2_xxs"), std::string::npos) << unsupported_type.message();
  EXPECT_NE(unsupported_type.message().find("q4_K"), std::string::npos) << unsupported_type.message();
  EXPECT_FALSE(get_rows(static_cast<Type>(999), table.data(), rb, n_vocab, n_embd, ids, out.data(), pool).ok());
  EXPECT_FALSE(get_rows(Type::Q4_0, table.data(), 18, n_vocab, 48, ids, out.data(), pool).ok());  // not 32k
  EXPECT_FALSE(get_rows(Type::F32, table.data(), rb - 4, n_vocab, n_embd, ids, out.data(), pool).ok());
  EXPECT_FALSE(get_rows(Type::F32, table.data(), rb, 0, n_embd, ids, out.data(), pool).ok());
  EXPECT_FALSE(get_rows(Type::F32, nullptr, rb, n_vocab, n_embd, ids, out.data(), pool).ok());
  EXPECT_FALSE(get_rows(Type::F32, table.data(), rb, n_vocab, n_embd, ids, nullptr, pool).ok());
  EXPECT_TRUE(get_rows(Type::F32, table.data(), rb, n_vocab, n_embd, {}, nullptr, pool).ok());
}

}  // namespace
}  // namespace strata::backend::cpu
