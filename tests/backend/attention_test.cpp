// CPU attention against a double-precision reference computed on the dequantized cache: every
// K/V pair and head size, flash and plain, every instruction-set path, long contexts, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <tuple>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/kv_rows.h"
#include "core/thread_pool.h"
#include "quant/type.h"

namespace strata::backend::cpu {
namespace {

using quant::Type;

// Sanitizer builds run ~10x slower: they sweep fewer shapes (every pair still runs).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kQuick = true;
#else
constexpr bool kQuick = false;
#endif

// One cache area (K or V) of n_cells rows with padding between rows, plus what it decodes to.
struct Area {
  Type type = Type::F32;
  size_t stride = 0;
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // [cell][n_head_kv * hd], dequantized
  float max_abs = 0.f;
};

Area make_area(Type type, int hd, int n_head_kv, int64_t n_cells, uint32_t seed, float scale = 1.f) {
  Area a;
  a.type = type;
  const int64_t width = static_cast<int64_t>(hd) * n_head_kv;
  const size_t row = quant::row_bytes(type, static_cast<uint64_t>(width)).value();
  a.stride = row + 3;  // odd padding: rows are not aligned
  a.bytes.assign(a.stride * static_cast<size_t>(n_cells), 0);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, scale);
  std::vector<float> x(static_cast<size_t>(width * n_cells));
  for (float& v : x) v = normal(rng);
  EXPECT_TRUE(write_kv_rows(type, x.data(), n_cells, width, a.bytes.data(), a.stride).ok());
  a.values.resize(x.size());
  EXPECT_TRUE(read_kv_rows(type, a.bytes.data(), a.stride, n_cells, width, a.values.data()).ok());
  for (float v : a.values) a.max_abs = std::max(a.max_abs, std::fabs(v));
  return a;
}

struct Shape {
  int hd = 64;
  int n_head = 8;
  int n_head_kv = 2;
  int64_t n_kv = 37;
  std::vector<int32_t> pos;
  float scale = 0.f;
};

std::vector<int32_t> tail_positions(int64_t n_kv, int n_tokens) {
  std::vector<int32_t> pos;
  for (int i = 0; i < n_tokens; ++i) pos.push_back(static_cast<int32_t>(std::max<int64_t>(0, n_kv - n_tokens + i)));
  return pos;
}

std::vector<float> random_queries(const Shape& s, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, scale);
  std::vector<float> q(s.pos.size() * static_cast<size_t>(s.n_head * s.hd));
  for (float& v : q) v = normal(rng);
  return q;
}

// softmax(scale q·k) v in double over the dequantized values.
std::vector<double> reference(const Shape& s, const std::vector<float>& q, const Area& k, const Area& v) {
  const int group = s.n_head / s.n_head_kv;
  const int64_t width = static_cast<int64_t>(s.hd) * s.n_head_kv;
  std::vector<double> out(q.size());
  std::vector<double> w;
  for (size_t t = 0; t < s.pos.size(); ++t) {
    for (int h = 0; h < s.n_head; ++h) {
      const int g = h / group;
      const float* qr = q.data() + (t * s.n_head + h) * s.hd;
      const int64_t n = s.pos[t] + 1;
      w.assign(static_cast<size_t>(n), 0.0);
      double mx = -INFINITY;
      for (int64_t c = 0; c < n; ++c) {
        const float* kr = k.values.data() + c * width + g * s.hd;
        double dot = 0;
        for (int d = 0; d < s.hd; ++d) dot += static_cast<double>(qr[d]) * kr[d];
        w[c] = dot * s.scale;
        mx = std::max(mx, w[c]);
      }
      double sum = 0;
      for (double& x : w) sum += (x = std::exp(x - mx));
      double* o = out.data() + (t * s.n_head + h) * s.hd;
      for (int64_t c = 0; c < n; ++c) {
        const float* vr = v.values.data() + c * width + g * s.hd;
        for (int d = 0; d < s.hd; ++d) o[d] += w[c] / sum * vr[d];
      }
    }
  }
  return out;
}

AttentionArgs make_args(const Shape& s, const std::vector<float>& q, const Area& k, const Area& v, bool flash,
                        std::vector<float>& out) {
  out.assign(q.size(), NAN);
  AttentionArgs a;
  a.q = q.data();
  a.pos = s.pos.data();
  a.n_tokens = static_cast<int64_t>(s.pos.size());
  a.k_type = k.type;
  a.k = k.bytes.data();
  a.k_stride = k.stride;
  a.v_type = v.type;
  a.v = v.bytes.data();
  a.v_stride = v.stride;
  a.n_kv = s.n_kv;
  a.n_head = s.n_head;
  a.n_head_kv = s.n_head_kv;
  a.head_dim = s.hd;
  a.scale = s.scale;
  a.flash = flash;
  a.out = out.data();
  return a;
}

// Largest |got - want| relative to the largest |V| (outputs are convex combinations of V).
double max_rel_error(const std::vector<float>& got, const std::vector<double>& want, double v_max) {
  double err = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    err = std::max(err, std::fabs(got[i] - want[i]));
  }
  return err / std::max(v_max, 1e-30);
}

// The sweep's tolerance: every path computes in f32 on exactly the values the reference sees,
// so one bound serves every type pair.
constexpr double kTolerance = 2e-5;

class IsaGuard {
 public:
  explicit IsaGuard(Isa isa) { ok_ = force_isa(isa).ok(); }
  ~IsaGuard() { (void)force_isa(std::nullopt); }
  bool ok() const { return ok_; }

 private:
  bool ok_ = false;
};

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (isa_supported(isa)) out.push_back(isa);
  }
  return out;
}

bool pair_fits(Type k, Type v, int hd) {
  return hd % quant::type_info(k).block_size == 0 && hd % quant::type_info(v).block_size == 0;
}

// Areas are built once per (type, head dim, role) and shared by every case of the sweep.
class AreaCache {
 public:
  const Area& get(Type type, int hd, bool is_v) {
    const auto key = std::make_tuple(type, hd, is_v);
    auto it = areas_.find(key);
    if (it == areas_.end()) {
      const uint32_t seed = static_cast<uint32_t>(hd * 131 + static_cast<int>(type) * 7 + (is_v ? 1 : 0));
      it = areas_.emplace(key, make_area(type, hd, kHeadsKv, kCells, seed)).first;
    }
    return it->second;
  }
  static constexpr int kHeadsKv = 2;
  static constexpr int64_t kCells = 300;

 private:
  std::map<std::tuple<Type, int, bool>, Area> areas_;
};

TEST(Attention, EveryPairHeadSizeAndModeMatchesReference) {
  AreaCache areas;
  ThreadPool pool(2);
  AttentionScratch scratch;
  const std::vector<int> head_dims =
      kQuick ? std::vector<int>{64, 80, 128} : std::vector<int>{64, 80, 96, 112, 128, 256};
  const std::vector<int64_t> depths = {1, 37, 300};
  int runs = 0, refused = 0;
  double worst = 0;
  for (int hd : head_dims) {
    for (Type kt : kv_types()) {
      for (Type vt : kv_types()) {
        if (!pair_fits(kt, vt, hd)) {
          // Refused with the types that would work, on every path.
          const Status st = check_attention_types(kt, vt, hd);
          ASSERT_FALSE(st.ok());
          EXPECT_NE(st.message().find("f32, f16, bf16"), std::string::npos) << st.message();
          Shape s;
          s.hd = hd;
          s.pos = {0};
          s.n_kv = 1;
          s.scale = 1.f;
          std::vector<float> q(static_cast<size_t>(s.n_head * hd), 0.f), out;
          Area k = areas.get(pair_fits(kt, kt, hd) ? kt : Type::F16, hd, false);
          Area v = areas.get(pair_fits(vt, vt, hd) ? vt : Type::F16, hd, true);
          k.type = kt;
          v.type = vt;
          EXPECT_FALSE(attention(make_args(s, q, k, v, true, out), pool, scratch).ok());
          ++refused;
          continue;
        }
        if (kQuick && hd != 64 && kt != vt) continue;
        const Area& k = areas.get(kt, hd, false);
        const Area& v = areas.get(vt, hd, true);
        for (int group : {1, 4}) {
          for (int n_tokens : {1, 5}) {
            for (int64_t n_kv : depths) {
              Shape s;
              s.hd = hd;
              s.n_head_kv = AreaCache::kHeadsKv;
              s.n_head = s.n_head_kv * group;
              s.n_kv = n_kv;
              s.pos = tail_positions(n_kv, n_tokens);
              s.scale = 1.f / std::sqrt(static_cast<float>(hd));
              const std::vector<float> q = random_queries(s, static_cast<uint32_t>(hd + n_tokens + group), 2.f);
              const std::vector<double> want = reference(s, q, k, v);
              for (bool flash : {true, false}) {
                std::vector<float> out;
                const Status st = attention(make_args(s, q, k, v, flash, out), pool, scratch);
                ASSERT_TRUE(st.ok()) << st.to_string();
                const double err = max_rel_error(out, want, v.max_abs);
                worst = std::max(worst, err);
                ASSERT_LE(err, kTolerance) << "K " << quant::type_name(kt) << " V " << quant::type_name(vt)
                                           << " hd " << hd << " group " << group << " tokens " << n_tokens
                                           << " n_kv " << n_kv << (flash ? " flash" : " plain");
                ++runs;
              }
            }
          }
        }
      }
    }
  }
  std::printf("[ info ] %d runs, %d refused pairs, worst relative error %.3g\n", runs, refused, worst);
}

TEST(Attention, EverySimdPathMatchesScalarAndReference) {
  AreaCache areas;
  ThreadPool pool(2);
  ThreadPool single(1);  // one thread takes every kv head per task (the decode layout)
  AttentionScratch scratch;
  const std::vector<int> head_dims = kQuick ? std::vector<int>{64} : std::vector<int>{64, 112, 128};
  for (int hd : head_dims) {
    for (Type kt : kv_types()) {
      for (Type vt : kv_types()) {
        if (!pair_fits(kt, vt, hd)) continue;
        const Area& k = areas.get(kt, hd, false);
        const Area& v = areas.get(vt, hd, true);
        Shape s;
        s.hd = hd;
        s.n_head_kv = AreaCache::kHeadsKv;
        s.n_head = 8;
        s.n_kv = 300;
        s.pos = {250, 299, 3};  // out of order: rows of one task end at different cells
        s.scale = 1.f / std::sqrt(static_cast<float>(hd));
        const std::vector<float> q = random_queries(s, 11, 2.f);
        const std::vector<double> want = reference(s, q, k, v);
        for (bool flash : {true, false}) {
          std::vector<float> scalar_out;
          {
            IsaGuard guard(Isa::kScalar);
            ASSERT_TRUE(guard.ok());
            ASSERT_TRUE(attention(make_args(s, q, k, v, flash, scalar_out), pool, scratch).ok());
          }
          for (Isa isa : supported_isas()) {
            IsaGuard guard(isa);
            for (ThreadPool* threads : {&pool, &single}) {
              std::vector<float> out;
              ASSERT_TRUE(attention(make_args(s, q, k, v, flash, out), *threads, scratch).ok());
              const std::string what = std::string(isa_name(isa)) + " K " + std::string(quant::type_name(kt)) +
                                       " V " + std::string(quant::type_name(vt)) + " hd " + std::to_string(hd) +
                                       (flash ? " flash" : " plain") + " threads " + std::to_string(threads->size());
              EXPECT_LE(max_rel_error(out, want, v.max_abs), kTolerance) << what;
              std::vector<double> scalar_d(scalar_out.begin(), scalar_out.end());
              EXPECT_LE(max_rel_error(out, scalar_d, v.max_abs), kTolerance) << what << " vs scalar";
            }
          }
        }
      }
    }
  }
}

// Prefill-sized batches: enough rows per task (tokens x group) for the transposed score layout,
// with a row count that is not a multiple of the vector width (padding rows).
TEST(Attention, PrefillBatchesOnEveryPathMatchReference) {
  AreaCache areas;
  ThreadPool pool(2);
  AttentionScratch scratch;
  const std::vector<int> head_dims = kQuick ? std::vector<int>{64} : std::vector<int>{64, 96, 256};
  for (int hd : head_dims) {
    for (Type kt : kv_types()) {
      for (Type vt : kv_types()) {
        if (!pair_fits(kt, vt, hd)) continue;
        // Every pair at the small head dims; the same-type pairs at 256 (the loaders are per
        // type, so mixing adds nothing there but time).
        const bool every_isa = kt == vt || hd == 64;
        if (hd == 256 && kt != vt) continue;
        if (kQuick && kt != vt && !(kt == Type::Q8_0 && vt == Type::Q4_0)) continue;
        const Area& k = areas.get(kt, hd, false);
        const Area& v = areas.get(vt, hd, true);
        Shape s;
        s.hd = hd;
        s.n_head_kv = AreaCache::kHeadsKv;
        s.n_head = 3 * s.n_head_kv;  // 12 tokens x 3 heads = 36 rows per task, padded to 48
        s.n_kv = 300;
        s.pos = tail_positions(300, 24);
        s.scale = 1.f / std::sqrt(static_cast<float>(hd));
        const std::vector<float> q = random_queries(s, 17, 2.f);
        const std::vector<double> want = reference(s, q, k, v);
        for (Isa isa : supported_isas()) {
          if (isa == Isa::kScalar && !every_isa) continue;
          IsaGuard guard(isa);
          for (bool flash : {true, false}) {
            std::vector<float> out;
            ASSERT_TRUE(attention(make_args(s, q, k, v, flash, out), pool, scratch).ok());
            ASSERT_LE(max_rel_error(out, want, v.max_abs), kTolerance)
                << isa_name(isa) << " K " << quant::type_name(kt) << " V " << quant::type_name(vt) << " hd " << hd
                << (flash ? " flash" : " plain");
          }
        }
      }
    }
  }
}

// Depth 4096 with large scores (peaked softmax) on every path, several thread counts (so the
// flash-decoding split and merge run), flash against plain and the reference.
TEST(Attention, LongContextIsStable) {
  const int64_t n_kv = kQuick ? 2048 : 4096;
  std::vector<std::pair<Type, Type>> pairs = {
      {Type::F32, Type::F32}, {Type::F16, Type::F16}, {Type::Q8_0, Type::Q4_0}, {Type::Q4_0, Type::IQ4_NL}};
  if (kQuick) pairs = {{Type::F32, Type::F32}, {Type::Q8_0, Type::Q4_0}};
  for (float q_scale : {8.f, 150.f}) {
    for (auto [kt, vt] : pairs) {
      const Area k = make_area(kt, 128, 2, n_kv, 21);
      const Area v = make_area(vt, 128, 2, n_kv, 22);
      Shape s;
      s.hd = 128;
      s.n_head = 8;
      s.n_head_kv = 2;
      s.n_kv = n_kv;
      s.pos = tail_positions(n_kv, 3);
      s.scale = 1.f / std::sqrt(128.f);
      const std::vector<float> q = random_queries(s, 5, q_scale);
      const std::vector<double> want = reference(s, q, k, v);
      // Scores of hundreds in f32 carry absolute rounding of ~1e-4, which moves the weights.
      const double tol = q_scale > 10.f ? 2e-3 : 1e-4;
      for (Isa isa : supported_isas()) {
        IsaGuard guard(isa);
        for (size_t threads : kQuick ? std::vector<size_t>{3} : std::vector<size_t>{1, 3}) {
          ThreadPool pool(threads);
          AttentionScratch scratch;
          for (bool flash : {true, false}) {
            for (int n_tokens : {1, 3}) {
              Shape s1 = s;
              s1.pos.resize(static_cast<size_t>(n_tokens));
              std::vector<float> q1(q.begin(), q.begin() + n_tokens * s.n_head * s.hd);
              std::vector<double> want1(want.begin(), want.begin() + n_tokens * s.n_head * s.hd);
              std::vector<float> out;
              ASSERT_TRUE(attention(make_args(s1, q1, k, v, flash, out), pool, scratch).ok());
              EXPECT_LE(max_rel_error(out, want1, v.max_abs), tol)
                  << isa_name(isa) << " " << quant::type_name(kt) << "/" << quant::type_name(vt) << " q*"
                  << q_scale << " threads " << threads << (flash ? " flash" : " plain") << " tokens " << n_tokens;
            }
          }
        }
      }
    }
  }
}

TEST(Attention, SplitDecodeWithOneKvHeadMatchesPlain) {
  const Area k = make_area(Type::Q8_0, 64, 1, 3000, 1);
  const Area v = make_area(Type::Q4_0, 64, 1, 3000, 2);
  Shape s;
  s.hd = 64;
  s.n_head = 4;
  s.n_head_kv = 1;
  s.n_kv = 3000;
  s.pos = {2999};
  s.scale = 0.125f;
  const std::vector<float> q = random_queries(s, 9, 3.f);
  const std::vector<double> want = reference(s, q, k, v);
  for (size_t threads : {size_t{1}, size_t{2}, size_t{4}}) {
    ThreadPool pool(threads);
    AttentionScratch scratch;
    std::vector<float> flash, plain;
    ASSERT_TRUE(attention(make_args(s, q, k, v, true, flash), pool, scratch).ok());
    ASSERT_TRUE(attention(make_args(s, q, k, v, false, plain), pool, scratch).ok());
    EXPECT_LE(max_rel_error(flash, want, v.max_abs), kTolerance) << threads;
    EXPECT_LE(max_rel_error(plain, want, v.max_abs), kTolerance) << threads;
    EXPECT_GT(scratch.bytes(), 0u);
  }
}

TEST(Attention, StridedQueriesAndOutputsAndScratchReuse) {
  const Area k = make_area(Type::F16, 64, 2, 50, 3);
  const Area v = make_area(Type::BF16, 64, 2, 50, 4);
  Shape s;
  s.hd = 64;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_kv = 50;
  s.pos = {47, 48, 49};
  s.scale = 0.125f;
  const std::vector<float> q = random_queries(s, 6);
  const std::vector<double> want = reference(s, q, k, v);
  const int64_t width = s.n_head * s.hd, wide = width + 40;
  std::vector<float> q_wide(3 * wide, 99.f), out_wide(3 * wide, -7.f);
  for (int t = 0; t < 3; ++t) std::copy(q.begin() + t * width, q.begin() + (t + 1) * width, q_wide.begin() + t * wide);
  ThreadPool pool(2);
  AttentionScratch scratch;
  std::vector<float> unused;
  AttentionArgs a = make_args(s, q, k, v, true, unused);
  a.q = q_wide.data();
  a.q_stride = wide;
  a.out = out_wide.data();
  a.out_stride = wide;
  ASSERT_TRUE(attention(a, pool, scratch).ok());
  std::vector<float> out(q.size());
  for (int t = 0; t < 3; ++t) {
    std::copy(out_wide.begin() + t * wide, out_wide.begin() + t * wide + width, out.begin() + t * width);
    for (int64_t i = width; i < wide; ++i) EXPECT_EQ(out_wide[t * wide + i], -7.f);
  }
  EXPECT_LE(max_rel_error(out, want, v.max_abs), kTolerance);
  // A larger call, then the first again: the grown scratch gives the same result.
  const Area k2 = make_area(Type::Q5_1, 256, 2, 400, 5);
  const Area v2 = make_area(Type::Q5_0, 256, 2, 400, 6);
  Shape s2 = s;
  s2.hd = 256;
  s2.n_kv = 400;
  s2.pos = tail_positions(400, 9);
  const std::vector<float> q2 = random_queries(s2, 8);
  std::vector<float> out2;
  ASSERT_TRUE(attention(make_args(s2, q2, k2, v2, false, out2), pool, scratch).ok());
  EXPECT_LE(max_rel_error(out2, reference(s2, q2, k2, v2), v2.max_abs), kTolerance);
  std::vector<float> again;
  ASSERT_TRUE(attention(make_args(s, q, k, v, true, again), pool, scratch).ok());
  EXPECT_LE(max_rel_error(again, want, v.max_abs), kTolerance);
}

TEST(Attention, BadArgumentsAreErrors) {
  const Area k = make_area(Type::Q8_0, 64, 2, 8, 1);
  const Area v = make_area(Type::Q8_0, 64, 2, 8, 2);
  Shape s;
  s.hd = 64;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_kv = 8;
  s.pos = {7};
  s.scale = 0.125f;
  const std::vector<float> q = random_queries(s, 1);
  ThreadPool pool(2);
  AttentionScratch scratch;
  std::vector<float> out;
  ASSERT_TRUE(attention(make_args(s, q, k, v, true, out), pool, scratch).ok());

  auto expect_error = [&](auto mutate, const char* needle) {
    std::vector<float> o;
    AttentionArgs a = make_args(s, q, k, v, true, o);
    mutate(a);
    const Status st = attention(a, pool, scratch);
    ASSERT_FALSE(st.ok()) << needle;
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
  };
  expect_error([](AttentionArgs& a) { a.head_dim = 80; }, "f32, f16, bf16");
  expect_error([](AttentionArgs& a) { a.head_dim = 100; }, "multiple of 16");
  expect_error([](AttentionArgs& a) { a.head_dim = 0; }, "head dim");
  expect_error([](AttentionArgs& a) { a.k_type = Type::Q4_K; }, "not a KV cache type");
  expect_error([](AttentionArgs& a) { a.v_type = Type::Q6_K; }, "not a KV cache type");
  expect_error([](AttentionArgs& a) { a.n_kv = 0; }, "filled KV cells");
  expect_error([](AttentionArgs& a) { a.n_kv = 7; }, "outside the 7 filled cells");
  expect_error([](AttentionArgs& a) { a.pos = nullptr; }, "null");
  expect_error([](AttentionArgs& a) { a.out = nullptr; }, "null");
  expect_error([](AttentionArgs& a) { a.n_head = 3; }, "n_head_kv");
  expect_error([](AttentionArgs& a) { a.n_head_kv = 0; }, "n_head_kv");
  expect_error([](AttentionArgs& a) { a.k_stride = 10; }, "shorter than the rows");
  expect_error([](AttentionArgs& a) { a.q_stride = 5; }, "query stride");
  expect_error([](AttentionArgs& a) { a.out_stride = 5; }, "output stride");
  expect_error([](AttentionArgs& a) { a.scale = NAN; }, "scale");
  expect_error([](AttentionArgs& a) { a.n_tokens = -1; }, "negative");
  const std::vector<int32_t> negative = {-1};
  expect_error([&](AttentionArgs& a) { a.pos = negative.data(); }, "cell -1");
  expect_error([](AttentionArgs& a) { a.head_dim = 2048; }, "from 16 to 1024");
  // The plain path keeps whole score rows: a huge context is refused before any cell is read.
  const std::vector<int32_t> far = {(1 << 26) - 1};
  expect_error(
      [&](AttentionArgs& a) {
        a.flash = false;
        a.n_head = 16;
        a.n_kv = int64_t{1} << 26;
        a.pos = far.data();
      },
      "use flash attention");

  // No tokens: nothing to do, nothing touched.
  std::vector<float> o;
  AttentionArgs a = make_args(s, q, k, v, true, o);
  a.n_tokens = 0;
  a.q = nullptr;
  a.out = nullptr;
  EXPECT_TRUE(attention(a, pool, scratch).ok());
}

}  // namespace
}  // namespace strata::backend::cpu
