// Decode steps as CUDA graphs (backend/cuda/step_graph.h): a layer-like sequence of ops run
// for many steps on a backend with graphs and on one without (STRATA_CUDA_GRAPHS=0) must give
// the same outputs, while the graph backend replays its cached graph on most steps.
#include <gtest/gtest.h>

#ifndef STRATA_HAVE_CUDA

TEST(CudaStepGraph, NotBuilt) {
  GTEST_SKIP() << "built without the CUDA backend (configure with -DSTRATA_CUDA=ON where nvcc is installed)";
}

#else

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/kernels.h"
#include "quant/random_blocks.h"
#include "quant/type.h"

namespace strata::backend {
namespace {

using quant::Type;

constexpr int kHeads = 4;
constexpr int kHeadsKv = 2;
constexpr int kHeadDim = 128;
constexpr int kSteps = 300;  // crosses the attention's 256-cell split bucket once
constexpr int kCells = 512;

struct Layer {
  std::unique_ptr<Backend> backend;
  WeightView q_table, k_table, v_table, norm, wo;
  std::unique_ptr<DeviceBuffer> q, k, v, out, proj, kcache, vcache;
  std::unique_ptr<RopeAngles> rope;
  size_t k_row = 0, v_row = 0;
};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

WeightView random_weight(Backend& b, Type type, int64_t cols, int64_t rows, uint32_t seed) {
  const size_t row = quant::row_bytes(type, static_cast<uint64_t>(cols)).value();
  std::vector<uint8_t> bytes(row * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_TRUE(quant::fill_random_row(type, seed * 1000u + static_cast<uint64_t>(r), 0.05f,
                                       bytes.data() + row * static_cast<size_t>(r), cols)
                    .ok());
  }
  auto w = b.load_weight(type, bytes, cols, rows);
  EXPECT_TRUE(w.ok()) << w.status().to_string();
  return w.ok() ? *w : WeightView{};
}

// A backend (graphs on or off) with the tables every step reads its inputs from.
std::unique_ptr<Layer> make_layer(bool graphs, Type k_type, Type v_type) {
  if (!graphs) setenv("STRATA_CUDA_GRAPHS", "0", 1);
  auto created = make_cuda_backend(0);
  if (!graphs) unsetenv("STRATA_CUDA_GRAPHS");
  EXPECT_TRUE(created.ok()) << created.status().to_string();
  if (!created.ok()) return nullptr;
  auto l = std::make_unique<Layer>();
  l->backend = std::move(*created);
  Backend& b = *l->backend;
  const int64_t qw = int64_t{kHeads} * kHeadDim, kw = int64_t{kHeadsKv} * kHeadDim;
  const auto table = [&](int64_t width, uint32_t seed) {
    const std::vector<float> rows = random_floats(static_cast<size_t>(width * kSteps), seed);
    auto w = b.load_weight(Type::F32, {reinterpret_cast<const uint8_t*>(rows.data()), rows.size() * 4}, width, kSteps);
    EXPECT_TRUE(w.ok()) << w.status().to_string();
    return w.ok() ? *w : WeightView{};
  };
  l->q_table = table(qw, 1);
  l->k_table = table(kw, 2);
  l->v_table = table(kw, 3);
  const std::vector<float> ones(static_cast<size_t>(qw), 1.0f);
  l->norm = *b.load_weight(Type::F32, {reinterpret_cast<const uint8_t*>(ones.data()), ones.size() * 4}, qw, 1);
  l->k_row = quant::row_bytes(k_type, static_cast<uint64_t>(kw)).value();
  l->v_row = quant::row_bytes(v_type, static_cast<uint64_t>(kw)).value();
  l->q = *b.allocate(static_cast<size_t>(qw) * 4, "q");
  l->k = *b.allocate(static_cast<size_t>(kw) * 4, "k");
  l->v = *b.allocate(static_cast<size_t>(kw) * 4, "v");
  l->out = *b.allocate(static_cast<size_t>(qw) * 4, "out");
  l->proj = *b.allocate(static_cast<size_t>(qw) * 4, "proj");
  l->wo = random_weight(b, Type::Q8_0, qw, qw, 4);
  l->kcache = *b.allocate(l->k_row * kCells, "K cache");
  l->vcache = *b.allocate(l->v_row * kCells, "V cache");
  RopeParams rp;
  rp.head_dim = kHeadDim;
  rp.freq_base = 10000.f;
  l->rope = *b.create_rope(rp);
  return l;
}

// One decode step at position p; returns the attention output plus q, then the output
// projection of the attention output (in a graph, the attention kernel quantizes its output
// for that matvec).
std::vector<float> step(Layer& l, int32_t p, Type k_type, Type v_type) {
  Backend& b = *l.backend;
  const int32_t id = p;
  const int64_t qw = int64_t{kHeads} * kHeadDim, kw = int64_t{kHeadsKv} * kHeadDim;
  EXPECT_TRUE(b.get_rows(l.q_table, {&id, 1}, l.q->floats()).ok());
  EXPECT_TRUE(b.get_rows(l.k_table, {&id, 1}, l.k->floats()).ok());
  EXPECT_TRUE(b.get_rows(l.v_table, {&id, 1}, l.v->floats()).ok());
  EXPECT_TRUE(b.rms_norm(l.q->floats(), l.norm, l.q->floats(), 1, qw, 1e-5f).ok());
  EXPECT_TRUE(l.rope->set_positions({&p, 1}).ok());
  EXPECT_TRUE(b.rope(l.q->floats(), 1, kHeads, *l.rope).ok());
  EXPECT_TRUE(b.rope(l.k->floats(), 1, kHeadsKv, *l.rope).ok());
  auto* kc = static_cast<uint8_t*>(l.kcache->data());
  auto* vc = static_cast<uint8_t*>(l.vcache->data());
  EXPECT_TRUE(b.write_kv(k_type, l.k->floats(), 1, kw, kc + l.k_row * static_cast<size_t>(p), l.k_row).ok());
  EXPECT_TRUE(b.write_kv(v_type, l.v->floats(), 1, kw, vc + l.v_row * static_cast<size_t>(p), l.v_row).ok());
  AttentionCall call;
  call.q = l.q->floats();
  call.positions = {&p, 1};
  call.k_type = k_type;
  call.k = kc;
  call.k_stride = l.k_row;
  call.v_type = v_type;
  call.v = vc;
  call.v_stride = l.v_row;
  call.n_kv = p + 1;
  call.n_head = kHeads;
  call.n_head_kv = kHeadsKv;
  call.head_dim = kHeadDim;
  call.scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  call.out = l.out->floats();
  EXPECT_TRUE(b.attention(call).ok());
  EXPECT_TRUE(b.matmul(l.wo, l.out->floats(), 1, l.proj->floats(), qw).ok());
  EXPECT_TRUE(b.add(l.out->floats(), l.q->floats(), l.out->floats(), 1, qw).ok());
  std::vector<float> out(static_cast<size_t>(2 * qw));
  const Status st = b.read(out.data(), l.out->floats(), static_cast<size_t>(qw) * 4);
  EXPECT_TRUE(st.ok()) << st.to_string();
  EXPECT_TRUE(b.read(out.data() + qw, l.proj->floats(), static_cast<size_t>(qw) * 4).ok());
  return out;
}

TEST(CudaStepGraph, DecodeStepsReplayOneGraphAndMatchOpByOp) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine (the CUDA tests run on a GPU host)";
  for (const auto& [kt, vt] : {std::pair{Type::F16, Type::F16}, std::pair{Type::Q8_0, Type::Q4_0}}) {
    auto graphs = make_layer(true, kt, vt);
    auto eager = make_layer(false, kt, vt);
    ASSERT_NE(graphs, nullptr);
    ASSERT_NE(eager, nullptr);
    double worst = 0.0, worst_proj = 0.0, largest_proj = 0.0;
    const size_t qw = size_t{kHeads} * kHeadDim;
    for (int32_t p = 0; p < kSteps; ++p) {
      const std::vector<float> a = step(*graphs, p, kt, vt);
      const std::vector<float> b = step(*eager, p, kt, vt);
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_TRUE(std::isfinite(a[i])) << "step " << p << " value " << i;
        const double d = std::abs(a[i] - b[i]);
        if (i < qw) {
          worst = std::max(worst, d);
        } else {
          worst_proj = std::max(worst_proj, d);
          largest_proj = std::max(largest_proj, static_cast<double>(std::abs(b[i])));
        }
      }
    }
    // Same kernels; only the attention's split count (and so the summation order) may differ.
    EXPECT_LT(worst, 1e-4) << quant::type_name(kt) << "/" << quant::type_name(vt);
    // Where it does, an int8 activation quant of the projection's input may round the other
    // way (about 1e-3 of the output's scale); a wrong fused quantization would be far off.
    std::printf("%s/%s: attention worst difference %.3g; projection %.3g of largest %.3g\n",
                std::string(quant::type_name(kt)).c_str(), std::string(quant::type_name(vt)).c_str(), worst, worst_proj,
                largest_proj);
    EXPECT_LE(worst_proj, 2e-3 * largest_proj) << quant::type_name(kt) << "/" << quant::type_name(vt);
    const auto counts = static_cast<cuda::CudaBackend&>(*graphs->backend).step_counts();
    const auto none = static_cast<cuda::CudaBackend&>(*eager->backend).step_counts();
    // Captures: the first step, the step where the 256-cell bucket grows, and nothing else.
    EXPECT_LE(counts.captured, 3u);
    EXPECT_GE(counts.replayed, static_cast<uint64_t>(kSteps) - 3);
    EXPECT_EQ(counts.eager, 0u);
    EXPECT_EQ(none.replayed + none.captured + none.eager, 0u);
  }
}

// A feed-forward block and the next norm, as a decode step issues them: in a graph the
// fuser turns add + rms_norm + quantize and swiglu + quantize into single kernels, and the
// gate and up matvecs (one type, one input) into one launch.
struct Ffn {
  std::unique_ptr<Backend> backend;
  WeightView input, norm, gate, up, down;
  std::unique_ptr<DeviceBuffer> x, xn, g, u, proj;
  int64_t embd = 0;
};

// Widths of 4 and 8 values per thread of the norm (512 threads): its cluster forms on sm_90;
// 8448: the norm's looping form, and gate and up rows of three chunks.
constexpr int64_t kEmbdWidths[] = {2048, 4096, 8448};
constexpr int64_t kFf = 1024;


// prefetch: "" (the default), or STRATA_CUDA_L2_PREFETCH_MB's value ("0": none), with bulk
// prefetches when bulk is set.
std::unique_ptr<Ffn> make_ffn(bool graphs, int steps, int64_t n_embd, const char* prefetch = "", bool bulk = false,
                              bool in_chain = false) {
  if (!graphs) setenv("STRATA_CUDA_GRAPHS", "0", 1);
  if (*prefetch != '\0') setenv("STRATA_CUDA_L2_PREFETCH_MB", prefetch, 1);
  if (bulk) setenv("STRATA_CUDA_L2_PREFETCH_BULK", "1", 1);
  if (in_chain) setenv("STRATA_CUDA_L2_PREFETCH_CHAIN", "1", 1);
  auto created = make_cuda_backend(0);
  unsetenv("STRATA_CUDA_GRAPHS");
  unsetenv("STRATA_CUDA_L2_PREFETCH_MB");
  unsetenv("STRATA_CUDA_L2_PREFETCH_BULK");
  unsetenv("STRATA_CUDA_L2_PREFETCH_CHAIN");
  EXPECT_TRUE(created.ok()) << created.status().to_string();
  if (!created.ok()) return nullptr;
  auto f = std::make_unique<Ffn>();
  f->backend = std::move(*created);
  f->embd = n_embd;
  Backend& b = *f->backend;
  const std::vector<float> rows = random_floats(static_cast<size_t>(n_embd * steps), 7);
  f->input = *b.load_weight(Type::F32, {reinterpret_cast<const uint8_t*>(rows.data()), rows.size() * 4}, n_embd, steps);
  const std::vector<float> w = random_floats(static_cast<size_t>(n_embd), 8);
  f->norm = *b.load_weight(Type::F32, {reinterpret_cast<const uint8_t*>(w.data()), w.size() * 4}, n_embd, 1);
  f->gate = random_weight(b, Type::Q4_K, n_embd, kFf, 1);
  f->up = random_weight(b, Type::Q4_K, n_embd, kFf, 2);  // gate and up: one fused matvec launch
  f->down = random_weight(b, Type::Q6_K, kFf, n_embd, 3);
  f->x = *b.allocate(n_embd * 4, "x");
  f->xn = *b.allocate(n_embd * 4, "xn");
  f->g = *b.allocate(kFf * 4, "gate");
  f->u = *b.allocate(kFf * 4, "up");
  f->proj = *b.allocate(n_embd * 4, "proj");
  return f;
}

std::vector<float> ffn_step(Ffn& f, int32_t id) {
  Backend& b = *f.backend;
  const int64_t n_embd = f.embd;
  float* x = f.x->floats();
  float* xn = f.xn->floats();
  EXPECT_TRUE(b.get_rows(f.input, {&id, 1}, x).ok());
  EXPECT_TRUE(b.rms_norm(x, f.norm, xn, 1, n_embd, 1e-5f).ok());
  EXPECT_TRUE(b.matmul(f.gate, xn, 1, f.g->floats(), kFf).ok());
  EXPECT_TRUE(b.matmul(f.up, xn, 1, f.u->floats(), kFf).ok());
  EXPECT_TRUE(b.swiglu(f.g->floats(), f.u->floats(), f.g->floats(), 1, kFf).ok());
  EXPECT_TRUE(b.matmul(f.down, f.g->floats(), 1, f.proj->floats(), n_embd).ok());
  EXPECT_TRUE(b.add(x, f.proj->floats(), x, 1, n_embd).ok());
  EXPECT_TRUE(b.rms_norm(x, f.norm, xn, 1, n_embd, 1e-5f).ok());
  EXPECT_TRUE(b.matmul(f.gate, xn, 1, f.g->floats(), kFf).ok());
  std::vector<float> out(static_cast<size_t>(n_embd + kFf));
  EXPECT_TRUE(b.read(out.data(), x, n_embd * 4).ok());
  EXPECT_TRUE(b.read(out.data() + n_embd, f.g->floats(), kFf * 4).ok());
  return out;
}

// The first step grows the matvec scratch (its down projection is wider than its gate), so
// the second step's graph differs once; every later step replays it.
void expect_one_graph_replayed(Ffn& f, int steps) {
  const auto counts = static_cast<cuda::CudaBackend&>(*f.backend).step_counts();
  EXPECT_LE(counts.captured, 2u);
  EXPECT_GE(counts.replayed, static_cast<uint64_t>(steps) - 2);
  EXPECT_EQ(counts.eager, 0u);
}

TEST(CudaStepGraph, FusedKernelsGiveTheOpByOpResults) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine (the CUDA tests run on a GPU host)";
  constexpr int kFfnSteps = 20;
  for (const int64_t embd : kEmbdWidths) {
    SCOPED_TRACE(embd);
    auto graphs = make_ffn(true, kFfnSteps, embd);
    auto eager = make_ffn(false, kFfnSteps, embd);
    ASSERT_NE(graphs, nullptr);
    ASSERT_NE(eager, nullptr);
    double worst = 0.0, largest = 0.0;
    for (int32_t s = 0; s < kFfnSteps; ++s) {
      const std::vector<float> a = ffn_step(*graphs, s);
      const std::vector<float> b = ffn_step(*eager, s);
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_TRUE(std::isfinite(a[i])) << "step " << s << " value " << i;
        worst = std::max(worst, static_cast<double>(std::abs(a[i] - b[i])));
        largest = std::max(largest, static_cast<double>(std::abs(b[i])));
      }
    }
    // The fused kernels do the same float operations in the same order; should the compiler
    // contract one differently, an int8 activation quant may round the other way, which moves
    // an output by about 1e-3 of its scale.
    std::printf("fused vs op by op: worst difference %.3g, largest value %.3g\n", worst, largest);
    EXPECT_LE(worst, 2e-3 * largest) << "largest value " << largest;
    expect_one_graph_replayed(*graphs, kFfnSteps);
  }
}

// The L2 prefetch branches (a side stream forked after each matvec, joined at the step's
// end) change no result and keep the graph replayed, with sector and bulk prefetches, and
// budgets that cut a matrix short (1 MiB) or take all of it (64 MiB).
TEST(CudaStepGraph, L2PrefetchBranchesChangeNoResult) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine (the CUDA tests run on a GPU host)";
  constexpr int kFfnSteps = 12;
  const struct {
    const char* mb;
    bool bulk;
    bool in_chain;
  } settings[] = {{"0", false, false}, {"1", false, false}, {"64", false, false}, {"1", true, false},
                  {"64", true, false},  {"1", false, true},  {"64", false, true},  {"64", true, true}};
  for (const int64_t embd : kEmbdWidths) {
    auto reference = make_ffn(true, kFfnSteps, embd, "0");
    ASSERT_NE(reference, nullptr);
    std::vector<std::vector<float>> expected;
    for (int32_t s = 0; s < kFfnSteps; ++s) expected.push_back(ffn_step(*reference, s));
    for (const auto& setting : settings) {
      SCOPED_TRACE(std::to_string(embd) + " wide, " + setting.mb + " MiB" + (setting.bulk ? " bulk" : "") +
                   (setting.in_chain ? " in chain" : ""));
      auto f = make_ffn(true, kFfnSteps, embd, setting.mb, setting.bulk, setting.in_chain);
      ASSERT_NE(f, nullptr);
      for (int32_t s = 0; s < kFfnSteps; ++s) {
        // The same kernels on the same inputs: prefetching moves no value.
        ASSERT_EQ(ffn_step(*f, s), expected[static_cast<size_t>(s)]) << "step " << s;
      }
      expect_one_graph_replayed(*f, kFfnSteps);
    }
  }
}

// The prefetch kernel on its own: ranges that start off a 16-byte boundary, end anywhere, are
// empty or span several bulk chunks run without a fault.
TEST(CudaStepGraph, L2PrefetchTakesAnyRange) {
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine (the CUDA tests run on a GPU host)";
  constexpr size_t kBytes = (size_t{3} << 20) + 77;
  void* mem = nullptr;
  ASSERT_EQ(cudaMalloc(&mem, kBytes), cudaSuccess);
  const auto* base = static_cast<const uint8_t*>(mem);
  const cuda::L2Range ranges[] = {{base + 3, kBytes - 3}, {base, 0}, {base + 16, 1}, {base + kBytes - 5, 5}};
  for (const bool bulk : {false, true}) {
    for (const bool in_chain : {false, true}) {
      EXPECT_EQ(cuda::launch_l2_prefetch(ranges, 4, bulk, in_chain, nullptr), cudaSuccess);
      EXPECT_EQ(cuda::launch_l2_prefetch(ranges, 1, bulk, in_chain, nullptr), cudaSuccess);
    }
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess) << (bulk ? "bulk" : "sectors");
  }
  EXPECT_EQ(cuda::launch_l2_prefetch(ranges, 0, false, false, nullptr), cudaErrorInvalidValue);
  EXPECT_EQ(cuda::launch_l2_prefetch(ranges, cuda::kMaxL2Ranges + 1, false, false, nullptr), cudaErrorInvalidValue);
  cudaFree(mem);
}

}  // namespace
}  // namespace strata::backend

#endif
