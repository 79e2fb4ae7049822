// CPU matmul speed on the 1b-preset shapes (TinyLlama-1.1B: n_embd 2048, kv 256, n_ff 5632,
// vocab 32000): matvec (1 token, reported as GB/s of weight bytes) and prefill (512 tokens,
// GFLOP/s), 1 and 2 threads; plus this machine's read bandwidth and the pool's wake-up cost
// to judge them against.
//
// On a shared machine: the "best_*" counters come from the fastest single call (a call that
// no other process interrupted), and --benchmark_repetitions=N adds "min" / "max" aggregates.
//
// Matvec cycles through enough copies of the weights (>= 512 MiB) that they come from
// DRAM, as in a real decode step where the whole model streams through once per token.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/matmul.h"
#include "core/thread_pool.h"
#include "quant/random_blocks.h"
#include "quant/type.h"

namespace {

using strata::ThreadPool;
using strata::backend::cpu::MatmulScratch;
using strata::quant::Type;

struct Shape {
  const char* name;
  int64_t n;  // output rows
  int64_t k;
};
constexpr Shape kShapes[] = {
    {"attn_q_o", 2048, 2048}, {"attn_kv", 256, 2048}, {"ffn_up_gate", 5632, 2048},
    {"ffn_down", 2048, 5632}, {"output", 32000, 2048},
};
constexpr Type kTypes[] = {Type::Q4_K, Type::Q6_K, Type::Q8_0, Type::Q4_0, Type::F16};
constexpr size_t kColdBytes = size_t{512} << 20;

std::vector<uint8_t> random_matrix(Type type, int64_t n, int64_t k, size_t& row_bytes, uint64_t seed) {
  row_bytes = strata::quant::row_bytes(type, static_cast<uint64_t>(k)).value();
  std::vector<uint8_t> w(row_bytes * static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    if (!strata::quant::fill_random_row(type, seed + static_cast<uint64_t>(r), 0.05f, w.data() + r * row_bytes, k).ok()) {
      w.clear();
      break;
    }
  }
  return w;
}

std::vector<float> random_acts(int64_t n) {
  std::mt19937 gen(42);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = dist(gen);
  return x;
}

// With --benchmark_repetitions: "min" is the fastest repetition's time, "max" its rates.
double best_of(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end()); }
double most_of(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()); }

void add_statistics(benchmark::internal::Benchmark* b) {
  b->ComputeStatistics("min", best_of)->ComputeStatistics("max", most_of);
}

void bm_matmul(benchmark::State& state, Type type, Shape shape, int64_t n_tokens, size_t threads, bool hot) {
  size_t row_bytes = 0;
  const std::vector<uint8_t> first = random_matrix(type, shape.n, shape.k, row_bytes, 7);
  if (first.empty()) {
    state.SkipWithError("could not build weights");
    return;
  }
  // Decode: enough distinct copies to defeat the caches. Prefill reuses one copy anyway.
  const size_t matrix_bytes = first.size();
  const size_t copies = n_tokens <= 8 && !hot ? (kColdBytes + matrix_bytes - 1) / matrix_bytes : 1;
  std::vector<std::vector<uint8_t>> weights(copies, first);
  const std::vector<float> x = random_acts(n_tokens * shape.k);
  std::vector<float> y(static_cast<size_t>(n_tokens * shape.n));
  ThreadPool pool(threads);
  MatmulScratch scratch;
  size_t i = 0;
  double best = 1e30;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const strata::Status st = strata::backend::cpu::matmul(type, weights[i].data(), row_bytes, shape.n, shape.k, x.data(),
                                                           n_tokens, y.data(), shape.n, pool, scratch);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (!st.ok()) {
      state.SkipWithError(st.to_string().c_str());
      return;
    }
    benchmark::ClobberMemory();
    i = i + 1 == copies ? 0 : i + 1;
  }
  const double iters = static_cast<double>(state.iterations());
  const double flops = 2.0 * static_cast<double>(shape.n * shape.k * n_tokens);
  if (n_tokens <= 8) {
    // Weight bytes streamed per second (each call reads the matrix once), and the time per
    // token: with the weights read once, 2-8 tokens should cost little more than one.
    state.counters["GB/s"] = benchmark::Counter(iters * static_cast<double>(matrix_bytes) / 1e9, benchmark::Counter::kIsRate);
    state.counters["best_GB/s"] = static_cast<double>(matrix_bytes) / best / 1e9;
    state.counters["best_us/token"] = best * 1e6 / static_cast<double>(n_tokens);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(iters * flops / 1e9, benchmark::Counter::kIsRate);
  state.counters["best_GFLOP/s"] = flops / best / 1e9;
  state.SetLabel(std::string(strata::backend::cpu::isa_name(strata::backend::cpu::active_isa())));
}

// Every matmul of the 1b preset (22 layers: q, k, v, o, gate, up, down; then the 32000-row
// head) for one decode step or one 512-token prefill, weights laid out as in a model file
// (distinct, so a decode step streams them all from DRAM once). Types follow llama.cpp's
// mixes: q4_K_M puts q6_K on attn_v / ffn_down of the use_more_bits layers and on the head;
// q4_0 has a q6_K head; q8_0 is q8_0 throughout. Gives the matmul-only ceiling of tg / pp.
struct ModelMatrix {
  Type type;
  int64_t n, k;
  size_t row_bytes;
  std::vector<uint8_t> w;
};

std::vector<ModelMatrix> build_model(const std::string& mix) {
  constexpr int64_t kLayers = 22;
  const auto more_bits = [](int64_t i) { return i < kLayers / 8 || i >= 7 * kLayers / 8 || (i - kLayers / 8) % 3 == 2; };
  std::vector<ModelMatrix> m;
  uint64_t seed = 1;
  auto add = [&](Type type, int64_t n, int64_t k) {
    ModelMatrix mm{type, n, k, 0, {}};
    mm.w = random_matrix(type, n, k, mm.row_bytes, seed);
    seed += static_cast<uint64_t>(n);
    m.push_back(std::move(mm));
  };
  const Type base = mix == "q4_K_M" ? Type::Q4_K : mix == "q8_0" ? Type::Q8_0 : Type::Q4_0;
  for (int64_t i = 0; i < kLayers; ++i) {
    const Type rich = mix == "q4_K_M" && more_bits(i) ? Type::Q6_K : base;
    add(base, 2048, 2048);  // q
    add(base, 256, 2048);   // k
    add(rich, 256, 2048);   // v
    add(base, 2048, 2048);  // o
    add(base, 5632, 2048);  // gate
    add(base, 5632, 2048);  // up
    add(rich, 2048, 5632);  // down
  }
  add(mix == "q8_0" ? Type::Q8_0 : Type::Q6_K, 32000, 2048);  // output head
  return m;
}

// grouped: q, k, v and gate, up as one matmul_group call each (what a Stage does), else one
// matmul per weight.
void bm_model_step(benchmark::State& state, const std::string& mix, int64_t n_tokens, size_t threads, bool grouped) {
  const std::vector<ModelMatrix> model = build_model(mix);
  size_t bytes = 0;
  double flops = 0;
  for (const ModelMatrix& mm : model) {
    if (mm.w.empty()) {
      state.SkipWithError("could not build weights");
      return;
    }
    bytes += mm.w.size();
    flops += 2.0 * static_cast<double>(mm.n * mm.k * n_tokens);
  }
  const std::vector<float> x = random_acts(n_tokens * 5632);
  std::vector<float> y(static_cast<size_t>(n_tokens * 32000));
  ThreadPool pool(threads);
  MatmulScratch scratch;
  // Calls of a step: [first, first + count) of `model`, one call each.
  std::vector<std::pair<size_t, size_t>> calls;
  for (size_t i = 0; i < model.size();) {
    const size_t in_layer = i % 7;
    const size_t count = !grouped || i + 1 == model.size() ? 1 : in_layer == 0 ? 3 : in_layer == 4 ? 2 : 1;
    calls.emplace_back(i, count);
    i += count;
  }
  std::vector<double> best(calls.size(), 1e30);
  std::vector<float> y2(y.size()), y3(y.size());
  for (auto _ : state) {
    for (size_t c = 0; c < calls.size(); ++c) {
      const auto [first, count] = calls[c];
      strata::backend::cpu::MatmulWeight group[3];
      float* outs[3] = {y.data(), y2.data(), y3.data()};
      for (size_t j = 0; j < count; ++j) {
        const ModelMatrix& mm = model[first + j];
        group[j] = {mm.type, mm.w.data(), mm.row_bytes, mm.n, outs[j], mm.n};
      }
      const auto t0 = std::chrono::steady_clock::now();
      const strata::Status st = strata::backend::cpu::matmul_group(std::span(group, count), model[first].k, x.data(),
                                                                   n_tokens, pool, scratch);
      best[c] = std::min(best[c], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      if (!st.ok()) {
        state.SkipWithError(st.to_string().c_str());
        return;
      }
    }
    benchmark::ClobberMemory();
  }
  // A step made of every matmul's fastest call: the step time of an undisturbed machine.
  double best_step = 0;
  for (const double b : best) best_step += b;
  state.counters["best_tokens/s"] = static_cast<double>(n_tokens) / best_step;
  if (n_tokens == 1) state.counters["best_GB/s"] = static_cast<double>(bytes) / best_step / 1e9;
  state.counters["best_GFLOP/s"] = flops / best_step / 1e9;
  const double iters = static_cast<double>(state.iterations());
  state.counters["tokens/s"] = benchmark::Counter(iters * static_cast<double>(n_tokens), benchmark::Counter::kIsRate);
  if (n_tokens == 1) {
    state.counters["GB/s"] = benchmark::Counter(iters * static_cast<double>(bytes) / 1e9, benchmark::Counter::kIsRate);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(iters * flops / 1e9, benchmark::Counter::kIsRate);
  state.counters["MB"] = static_cast<double>(bytes) / 1e6;
}

// Read bandwidth: each thread sums its half of a 1 GiB buffer (integer adds vectorize).
void bm_memory_read(benchmark::State& state) {
  const auto threads = static_cast<size_t>(state.range(0));
  const size_t n = (size_t{1} << 30) / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buf(new uint64_t[n]);
  for (size_t j = 0; j < n; ++j) buf[j] = j;
  ThreadPool pool(threads);
  std::atomic<uint64_t> total{0};
  double best = 1e30;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.run_on_all([&](size_t t, size_t nt) {
      const size_t b = n * t / nt, e = n * (t + 1) / nt;
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (size_t j = b; j + 4 <= e; j += 4) {
        s0 += buf[j];
        s1 += buf[j + 1];
        s2 += buf[j + 2];
        s3 += buf[j + 3];
      }
      total.fetch_add(s0 + s1 + s2 + s3, std::memory_order_relaxed);
    });
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  benchmark::DoNotOptimize(total.load());
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(n * 8) / 1e9,
                                              benchmark::Counter::kIsRate);
  state.counters["best_GB/s"] = static_cast<double>(n * 8) / best / 1e9;
}
BENCHMARK(bm_memory_read)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0)->Apply(add_statistics);

// What one run_on_all costs: a decode step of the 1b model makes ~155 matmul calls.
void bm_pool_wakeup(benchmark::State& state) {
  ThreadPool pool(static_cast<size_t>(state.range(0)));
  std::atomic<int> sink{0};
  for (auto _ : state) pool.run_on_all([&](size_t i, size_t) { sink.fetch_add(static_cast<int>(i), std::memory_order_relaxed); });
}
BENCHMARK(bm_pool_wakeup)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime()->Apply(add_statistics);

const bool kRegistered = [] {
  // STRATA_BENCH_ISA=scalar|avx2|avx512 runs everything on that path (to compare paths on one
  // CPU); STRATA_CPU_PREFETCH (decode_prefetch.h) applies as in strata.
  if (const char* want = std::getenv("STRATA_BENCH_ISA"); want != nullptr) {
    using strata::backend::cpu::Isa;
    bool known = false;
    for (const Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (strata::backend::cpu::isa_name(isa) != want) continue;
      known = true;
      if (const strata::Status st = strata::backend::cpu::force_isa(isa); !st.ok()) {
        std::fprintf(stderr, "STRATA_BENCH_ISA=%s: %s\n", want, st.to_string().c_str());
        std::exit(1);
      }
    }
    if (!known) {
      std::fprintf(stderr, "STRATA_BENCH_ISA=%s: not a path; use scalar, avx2 or avx512\n", want);
      std::exit(1);
    }
  }
  for (const char* mix : {"q4_K_M", "q8_0", "q4_0"}) {
    for (const int64_t n_tokens : {int64_t{1}, int64_t{512}}) {
      for (const size_t threads : {size_t{1}, size_t{2}}) {
        for (const bool grouped : {false, true}) {
          const std::string name = std::string(n_tokens == 1 ? "model_decode_step/" : "model_prefill512/") + mix +
                                   (grouped ? "/grouped" : "/per_weight") + "/threads:" + std::to_string(threads);
          auto* b = benchmark::RegisterBenchmark(name.c_str(), bm_model_step, std::string(mix), n_tokens, threads,
                                                 grouped);
          b->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(n_tokens == 1 ? 2.0 : 3.0);
          add_statistics(b);
        }
      }
    }
  }
  for (const Type type : kTypes) {
    for (const Shape& shape : kShapes) {
      for (const int64_t n_tokens : {int64_t{1}, int64_t{512}}) {
        for (const size_t threads : {size_t{1}, size_t{2}}) {
          const std::string name = std::string(n_tokens == 1 ? "matvec/" : "prefill512/") +
                                   std::string(strata::quant::type_name(type)) + "/" + shape.name + "_" +
                                   std::to_string(shape.n) + "x" + std::to_string(shape.k) + "/threads:" +
                                   std::to_string(threads);
          auto* b = benchmark::RegisterBenchmark(name.c_str(), bm_matmul, type, shape, n_tokens, threads, false);
          b->UseRealTime()->Unit(n_tokens == 1 ? benchmark::kMicrosecond : benchmark::kMillisecond);
          if (n_tokens > 1) b->MinTime(1.0);
          add_statistics(b);
        }
      }
    }
    // Batched decode (continuous batching: one row per active stream).
    if (type != Type::F16) {
      for (const Shape& shape : {kShapes[3], kShapes[4]}) {
        for (const int64_t n_tokens : {int64_t{1}, int64_t{2}, int64_t{4}, int64_t{8}}) {
          for (const size_t threads : {size_t{1}, size_t{2}}) {
            const std::string name = "matmul_tokens/" + std::string(strata::quant::type_name(type)) + "/" +
                                     std::to_string(shape.n) + "x" + std::to_string(shape.k) +
                                     "/n_tokens:" + std::to_string(n_tokens) + "/threads:" + std::to_string(threads);
            auto* b = benchmark::RegisterBenchmark(name.c_str(), bm_matmul, type, shape, n_tokens, threads, false);
            b->Unit(benchmark::kMicrosecond);
            add_statistics(b);
          }
        }
      }
    }
    // The kernel's own speed with the weights in L2 (256 x 2048: 0.3-1 MB), for comparison
    // with the DRAM-bound figures above.
    const std::string name = "matvec_cache_hot/" + std::string(strata::quant::type_name(type)) + "/256x2048/threads:1";
    add_statistics(benchmark::RegisterBenchmark(name.c_str(), bm_matmul, type, kShapes[1], int64_t{1}, size_t{1}, true)
                       ->UseRealTime()
                       ->Unit(benchmark::kMicrosecond));
  }
  return true;
}();

}  // namespace
