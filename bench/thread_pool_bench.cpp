// ThreadPool dispatch cost: what one run_on_all / parallel_for costs when the job does nothing.
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <functional>

#include "core/thread_pool.h"

namespace {

// A decode step makes ~150-200 of these, so this is the per-token overhead divided by ~175.
void BM_RunOnAllEmpty(benchmark::State& state) {
  strata::ThreadPool pool(static_cast<size_t>(state.range(0)));
  std::atomic<size_t> sink{0};
  for (auto _ : state) {
    pool.run_on_all([&](size_t i, size_t) { sink.fetch_add(i, std::memory_order_relaxed); });
  }
  benchmark::DoNotOptimize(sink.load());
}
BENCHMARK(BM_RunOnAllEmpty)->Arg(1)->Arg(2)->Arg(4)->UseRealTime();

// The same through the std::function overload (what callers holding a std::function pay).
void BM_RunOnAllStdFunction(benchmark::State& state) {
  strata::ThreadPool pool(static_cast<size_t>(state.range(0)));
  std::atomic<size_t> sink{0};
  const std::function<void(size_t, size_t)> fn = [&](size_t i, size_t) {
    sink.fetch_add(i, std::memory_order_relaxed);
  };
  for (auto _ : state) pool.run_on_all(fn);
  benchmark::DoNotOptimize(sink.load());
}
BENCHMARK(BM_RunOnAllStdFunction)->Arg(2)->UseRealTime();

// A lambda whose captures overflow std::function's small buffer (as attention's does).
void BM_RunOnAllBigCapture(benchmark::State& state) {
  strata::ThreadPool pool(static_cast<size_t>(state.range(0)));
  std::atomic<size_t> sink{0};
  std::array<size_t, 8> big{1, 2, 3, 4, 5, 6, 7, 8};
  for (auto _ : state) {
    pool.run_on_all([&sink, big](size_t i, size_t) { sink.fetch_add(i + big[i % 8], std::memory_order_relaxed); });
  }
  benchmark::DoNotOptimize(sink.load());
}
BENCHMARK(BM_RunOnAllBigCapture)->Arg(2)->UseRealTime();

void BM_ParallelForEmpty(benchmark::State& state) {
  strata::ThreadPool pool(2);
  const auto n = static_cast<size_t>(state.range(0));
  std::atomic<size_t> sink{0};
  for (auto _ : state) {
    pool.parallel_for(n, [&](size_t i) { sink.fetch_add(i, std::memory_order_relaxed); });
  }
  benchmark::DoNotOptimize(sink.load());
}
BENCHMARK(BM_ParallelForEmpty)->Arg(2)->Arg(64)->UseRealTime();

}  // namespace
