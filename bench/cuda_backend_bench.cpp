// CUDA backend speed on the 8b-preset shapes (Llama-3-8B: n_embd 4096, n_ff 14336, 32 query
// and 8 KV heads of 128): device copy bandwidth (the yardstick), decode matvec (GB/s of
// weight bytes, cycling through copies larger than L2), prefill matmul (TFLOP/s) and
// attention at depth 8192 for several K/V pairs (GB/s of KV bytes read per call).
// Each iteration enqueues a batch of calls and waits once, timed manually.
#include <benchmark/benchmark.h>

#ifdef STRATA_HAVE_CUDA

#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>
#include <random>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "quant/random_blocks.h"
#include "quant/type.h"

namespace {

using strata::backend::AttentionCall;
using strata::backend::Backend;
using strata::backend::DeviceBuffer;
using strata::backend::WeightView;
using strata::backend::cuda::CudaBackend;
using strata::quant::Type;

CudaBackend* gpu() {
  static std::unique_ptr<CudaBackend> backend = [] {
    auto b = CudaBackend::create(0);
    return b.ok() ? std::move(*b) : nullptr;
  }();
  return backend.get();
}

std::unique_ptr<DeviceBuffer> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  auto buf = gpu()->allocate(n * 4, "bench floats");
  if (!buf.ok()) return nullptr;
  (void)gpu()->write((*buf)->data(), v.data(), n * 4);
  return std::move(*buf);
}

template <typename Fn>
void timed(benchmark::State& state, int calls, Fn&& fn) {
  for (int i = 0; i < 3; ++i) fn(i);
  (void)gpu()->synchronize("bench");
  int i = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int c = 0; c < calls; ++c) fn(i++);
    if (!gpu()->synchronize("bench").ok()) state.SkipWithError("GPU error");
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    state.SetIterationTime(dt.count() / calls);
  }
}

void BM_Copy(benchmark::State& state) {
  if (gpu() == nullptr) return state.SkipWithError("no CUDA device");
  const size_t bytes = size_t{1} << 30;
  auto a = gpu()->allocate(bytes, "copy src");
  auto b = gpu()->allocate(bytes, "copy dst");
  if (!a.ok() || !b.ok()) return state.SkipWithError("no memory");
  timed(state, 10, [&](int) { (void)gpu()->copy((*b)->data(), (*a)->data(), bytes); });
  state.counters["GB/s(r+w)"] = benchmark::Counter(2.0 * bytes, benchmark::Counter::kIsIterationInvariantRate);
}

struct Matrix {
  std::vector<WeightView> copies;
  size_t bytes = 0;
};

// Loaded once per shape and type, then shared by every benchmark that multiplies it.
const Matrix& load_matrix(Type type, int64_t rows, int64_t k, size_t min_total) {
  static std::map<std::tuple<Type, int64_t, int64_t>, Matrix> cache;
  Matrix& m = cache[{type, rows, k}];
  if (!m.copies.empty()) return m;
  const size_t row = strata::quant::row_bytes(type, static_cast<uint64_t>(k)).value();
  std::vector<uint8_t> host(row * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    (void)strata::quant::fill_random_row(type, static_cast<uint64_t>(r), 0.05f, host.data() + r * row, k);
  }
  m.bytes = host.size();
  const size_t n = std::max<size_t>(1, (min_total + m.bytes - 1) / m.bytes);
  for (size_t i = 0; i < n; ++i) {
    auto w = gpu()->load_weight(type, host, k, rows);
    if (w.ok()) m.copies.push_back(*w);
  }
  return m;
}

constexpr Type kTypes[] = {Type::Q4_0, Type::Q4_K, Type::Q6_K, Type::Q8_0, Type::IQ4_XS, Type::F16};

// state.range(0): type index; range(1): tokens; range(2): 0 ffn_up [14336 x 4096], 1 ffn_down.
void BM_Matmul(benchmark::State& state) {
  if (gpu() == nullptr) return state.SkipWithError("no CUDA device");
  const Type type = kTypes[state.range(0)];
  const int64_t tokens = state.range(1);
  const int64_t rows = state.range(2) == 0 ? 14336 : 4096;
  const int64_t k = state.range(2) == 0 ? 4096 : 14336;
  state.SetLabel(fmt::format("{} {}x{} {} tok", strata::quant::type_name(type), rows, k, tokens));
  const Matrix& m = load_matrix(type, rows, k, size_t{256} << 20);
  if (m.copies.empty()) return state.SkipWithError("cannot load weights");
  auto x = random_floats(static_cast<size_t>(tokens * k), 1);
  auto y = gpu()->allocate(static_cast<size_t>(tokens * rows) * 4, "y");
  if (!x || !y.ok()) return state.SkipWithError("no memory");
  timed(state, 20, [&](int i) {
    (void)gpu()->matmul(m.copies[static_cast<size_t>(i) % m.copies.size()], x->floats(), tokens, (*y)->floats(),
                        rows);
  });
  if (tokens <= 8) {
    state.counters["GB/s"] = benchmark::Counter(static_cast<double>(m.bytes), benchmark::Counter::kIsIterationInvariantRate);
  } else {
    state.counters["TFLOP/s"] = benchmark::Counter(2.0 * rows * k * tokens / 1e12,
                                                   benchmark::Counter::kIsIterationInvariantRate);
  }
}

constexpr Type kKv[][2] = {{Type::F16, Type::F16},   {Type::Q8_0, Type::Q8_0},   {Type::Q8_0, Type::Q4_0},
                           {Type::Q4_0, Type::Q4_0}, {Type::IQ4_NL, Type::IQ4_NL}, {Type::BF16, Type::Q5_1}};

// range(0): pair index; range(1): tokens (1 decode at depth 8192, else prefill ending there).
void BM_Attention(benchmark::State& state) {
  if (gpu() == nullptr) return state.SkipWithError("no CUDA device");
  const Type kt = kKv[state.range(0)][0], vt = kKv[state.range(0)][1];
  const int64_t tokens = state.range(1);
  const int hd = 128, n_head = 32, n_head_kv = 8;
  const int64_t depth = 8192;
  state.SetLabel(fmt::format("K {} V {} depth {} {} tok", strata::quant::type_name(kt), strata::quant::type_name(vt),
                             depth, tokens));
  const int64_t width = int64_t{hd} * n_head_kv;
  const size_t k_row = strata::quant::row_bytes(kt, width).value();
  const size_t v_row = strata::quant::row_bytes(vt, width).value();
  auto k = gpu()->allocate(k_row * depth, "K");
  auto v = gpu()->allocate(v_row * depth, "V");
  auto src = random_floats(static_cast<size_t>(width * depth), 2);
  auto q = random_floats(static_cast<size_t>(tokens * n_head * hd), 3);
  auto out = gpu()->allocate(static_cast<size_t>(tokens * n_head * hd) * 4, "out");
  if (!k.ok() || !v.ok() || !src || !q || !out.ok()) return state.SkipWithError("no memory");
  (void)gpu()->write_kv(kt, src->floats(), depth, width, (*k)->data(), k_row, 0);
  (void)gpu()->write_kv(vt, src->floats(), depth, width, (*v)->data(), v_row, 0);
  std::vector<int32_t> pos;
  for (int64_t t = 0; t < tokens; ++t) pos.push_back(static_cast<int32_t>(depth - tokens + t));
  AttentionCall call;
  call.q = q->floats();
  call.positions = pos;
  call.k_type = kt;
  call.k = (*k)->data();
  call.k_stride = k_row;
  call.v_type = vt;
  call.v = (*v)->data();
  call.v_stride = v_row;
  call.n_kv = depth;
  call.n_head = n_head;
  call.n_head_kv = n_head_kv;
  call.head_dim = hd;
  call.scale = 1.f / std::sqrt(static_cast<float>(hd));
  call.out = (*out)->floats();
  timed(state, tokens == 1 ? 32 : 2, [&](int) { (void)gpu()->attention(call); });
  state.counters["KV GB/s"] =
      benchmark::Counter(static_cast<double>((k_row + v_row) * depth), benchmark::Counter::kIsIterationInvariantRate);
}

void matmul_args(benchmark::internal::Benchmark* b) {
  for (int t = 0; t < static_cast<int>(std::size(kTypes)); ++t) {
    for (int tokens : {1, 4, 512}) {
      for (int shape : {0, 1}) b->Args({t, tokens, shape});
    }
  }
}

// Fixed iteration counts: each benchmark runs once (weights are costly to set up).
BENCHMARK(BM_Copy)->UseManualTime()->Iterations(20)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Matmul)->Apply(matmul_args)->UseManualTime()->Iterations(30)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Attention)
    ->ArgsProduct({{0, 1, 2, 3, 4, 5}, {1, 512}})
    ->UseManualTime()
    ->Iterations(10)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

#endif  // STRATA_HAVE_CUDA
