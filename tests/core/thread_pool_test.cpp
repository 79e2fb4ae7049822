// ThreadPool: every index runs once, dispatch allocates nothing, idle workers sleep, shutdown is clean.
#include "core/thread_pool.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <new>
#include <thread>
#include <vector>

namespace {

// Counts global operator new calls while g_counting is set (the whole binary shares this
// replacement; outside the window it is plain malloc/free).
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

}  // namespace

void* operator new(size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// noinline: inlined into gtest's `new TestClass`, GCC 12 warns that free() meets operator new.
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace strata {
namespace {

using namespace std::chrono_literals;

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

TEST(ThreadPool, ParallelForVisitsEachIndexOnce) {
  for (size_t threads : {1u, 2u, 4u, 8u}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int round = 0; round < 50; ++round) {
      std::vector<std::atomic<int>> hits(1000);
      pool.parallel_for(hits.size(), [&](size_t i) { hits[i].fetch_add(1); });
      for (auto& h : hits) ASSERT_EQ(h.load(), 1) << threads << " threads, round " << round;
    }
  }
}

TEST(ThreadPool, ZeroThreadsMeansInline) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 1u);
  const auto caller = std::this_thread::get_id();
  int calls = 0;
  pool.run_on_all([&](size_t i, size_t n) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(i, 0u);
    EXPECT_EQ(n, 1u);
    ++calls;
  });
  pool.parallel_for(5, [&](size_t) { ++calls; });
  pool.parallel_for(0, [&](size_t) { ++calls; });
  EXPECT_EQ(calls, 6);
}

TEST(ThreadPool, RunOnAllGivesDistinctIndices) {
  for (size_t threads : {1u, 2u, 3u, 4u, 8u}) {
    ThreadPool pool(threads);
    for (int round = 0; round < 100; ++round) {
      std::vector<std::atomic<int>> seen(threads);
      std::vector<std::thread::id> ids(threads);
      pool.run_on_all([&](size_t i, size_t n) {
        EXPECT_EQ(n, threads);
        seen[i].fetch_add(1);
        ids[i] = std::this_thread::get_id();
      });
      for (auto& s : seen) ASSERT_EQ(s.load(), 1);
      EXPECT_EQ(ids[0], std::this_thread::get_id());  // the caller takes index 0
      for (size_t a = 0; a < threads; ++a)
        for (size_t b = a + 1; b < threads; ++b) ASSERT_NE(ids[a], ids[b]);
    }
  }
}

// Many back-to-back tiny jobs: a lost wake-up or a missed completion shows up as a hang or a
// wrong count here. Run with spinning (the fast path) and without (every dispatch sleeps/wakes).
TEST(ThreadPool, ManyTinyJobs) {
  for (uint32_t spin_us : {ThreadPool::kDefaultSpinMicroseconds, 0u}) {
    for (size_t threads : {2u, 4u}) {
      ThreadPool pool(threads, spin_us);
      const int jobs = spin_us == 0 ? 5000 : (threads == 2 ? 100000 : 20000);
      std::atomic<long> total{0};
      for (int j = 0; j < jobs; ++j) {
        pool.run_on_all([&](size_t i, size_t) { total.fetch_add(static_cast<long>(i) + 1, std::memory_order_relaxed); });
      }
      const long per_job = static_cast<long>(threads * (threads + 1) / 2);
      EXPECT_EQ(total.load(), per_job * jobs) << threads << " threads, spin " << spin_us;
    }
  }
}

// Jobs whose length varies by orders of magnitude, with pauses that straddle the spin window,
// so workers are caught in every state (running, polling, falling asleep, asleep).
TEST(ThreadPool, AlternatingJobSizesAndGaps) {
  ThreadPool pool(4, /*spin_microseconds=*/50);
  uint32_t rng = 12345;
  auto next = [&] { return rng = rng * 1664525u + 1013904223u; };
  for (int round = 0; round < 2000; ++round) {
    const size_t n = (round % 3 == 0) ? 1 + next() % 5000 : 1 + next() % 7;
    std::vector<int> out(n, 0);  // each index written by exactly one thread
    pool.parallel_for(n, [&](size_t i) { out[i] = static_cast<int>(i) + 1; });
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], static_cast<int>(i) + 1);
    if (round % 50 == 0) std::this_thread::sleep_for(std::chrono::microseconds(next() % 120));
  }
}

TEST(ThreadPool, ResultsOfJobsAreVisibleToTheCaller) {
  ThreadPool pool(4);
  std::vector<uint64_t> data(4096);
  for (int round = 1; round <= 200; ++round) {
    pool.run_on_all([&](size_t t, size_t n) {
      for (size_t i = t; i < data.size(); i += n) data[i] = static_cast<uint64_t>(round) * i;  // plain writes
    });
    for (size_t i = 0; i < data.size(); ++i) ASSERT_EQ(data[i], static_cast<uint64_t>(round) * i);
  }
}

TEST(ThreadPool, StdFunctionOverloadsStillWork) {
  ThreadPool pool(3);
  std::atomic<int> calls{0};
  const std::function<void(size_t, size_t)> all = [&](size_t, size_t) { calls.fetch_add(1); };
  const std::function<void(size_t)> each = [&](size_t) { calls.fetch_add(1); };
  pool.run_on_all(all);
  pool.parallel_for(10, each);
  EXPECT_EQ(calls.load(), 13);
}

// A dispatch passes a pointer to the lambda, so captures of any size cost no allocation
// (std::function would allocate once per call for these).
TEST(ThreadPool, DispatchDoesNotAllocate) {
  for (size_t threads : {1u, 2u, 4u}) {
    ThreadPool pool(threads);
    std::array<uint64_t, 16> big{};
    big.fill(1);
    std::atomic<uint64_t> sink{0};
    pool.run_on_all([&sink, big](size_t i, size_t) { sink.fetch_add(big[i % 16]); });  // warm-up
    g_allocations = 0;
    g_counting = true;
    for (int j = 0; j < 1000; ++j) {
      pool.run_on_all([&sink, big](size_t i, size_t) { sink.fetch_add(big[i % 16]); });
      pool.parallel_for(8, [&sink, big](size_t i) { sink.fetch_add(big[i % 16]); });
      if (j % 100 == 0) std::this_thread::sleep_for(std::chrono::microseconds(500));  // wake from sleep too
    }
    g_counting = false;
    EXPECT_EQ(g_allocations.load(), 0) << threads << " threads";
    EXPECT_EQ(sink.load(), 1000u * (threads + 8) + threads);
  }
}

TEST(ThreadPool, IdleWorkersStopSpinning) {
  constexpr size_t kThreads = 4;
  ThreadPool pool(kThreads);
  std::atomic<int> sink{0};
  for (int j = 0; j < 100; ++j) pool.run_on_all([&](size_t, size_t) { sink.fetch_add(1); });
  const double before = process_cpu_seconds();
  std::this_thread::sleep_for(300ms);
  const double used = process_cpu_seconds() - before;
  // Spinning through the whole idle period would cost 0.3 s per worker (0.9 s here).
  EXPECT_LT(used, 0.05) << "idle workers used " << used << " s of CPU in 0.3 s";
  pool.run_on_all([&](size_t, size_t) { sink.fetch_add(1); });  // they still wake up
  EXPECT_EQ(sink.load(), 101 * static_cast<int>(kThreads));
}

// With a spin window far longer than the idle period, park() still puts the workers to sleep
// at once (a caller about to wait on the network), and the next job wakes them.
TEST(ThreadPool, ParkStopsSpinningAtOnce) {
  constexpr size_t kThreads = 3;
  ThreadPool pool(kThreads, /*spin_microseconds=*/5'000'000);
  std::atomic<int> sink{0};
  for (int round = 0; round < 3; ++round) {
    pool.run_on_all([&](size_t, size_t) { sink.fetch_add(1); });
    pool.park();
    std::this_thread::sleep_for(20ms);  // let them notice
    const double before = process_cpu_seconds();
    std::this_thread::sleep_for(300ms);
    const double used = process_cpu_seconds() - before;
    // Polling through the period would cost 0.3 s per worker (0.6 s here).
    EXPECT_LT(used, 0.05) << "parked workers used " << used << " s of CPU in 0.3 s (round " << round << ")";
  }
  pool.run_on_all([&](size_t, size_t) { sink.fetch_add(1); });
  EXPECT_EQ(sink.load(), 4 * static_cast<int>(kThreads));
}

TEST(ThreadPool, DestroyWhileWorkersSleep) {
  for (int round = 0; round < 20; ++round) {
    ThreadPool pool(4, /*spin_microseconds=*/0);
    std::atomic<int> sink{0};
    pool.run_on_all([&](size_t, size_t) { sink.fetch_add(1); });
    std::this_thread::sleep_for(2ms);
    EXPECT_EQ(sink.load(), 4);
  }
  ThreadPool never_used(3);  // destroyed before any job
}

TEST(ThreadPool, DestroyWhileWorkersSpin) {
  for (int round = 0; round < 50; ++round) {
    ThreadPool pool(4, /*spin_microseconds=*/1'000'000);
    std::atomic<int> sink{0};
    pool.run_on_all([&](size_t, size_t) { sink.fetch_add(1); });
    EXPECT_EQ(sink.load(), 4);
  }  // workers are polling right now; the destructor must wake them without waiting out the window
}

TEST(ThreadPool, SpinWindowCanChange) {
  ThreadPool pool(2);
  EXPECT_EQ(pool.spin_microseconds(), ThreadPool::kDefaultSpinMicroseconds);
  std::atomic<int> sink{0};
  for (uint32_t us : {0u, 10u, 1000u, 0u}) {
    pool.set_spin_microseconds(us);
    EXPECT_EQ(pool.spin_microseconds(), us);
    for (int j = 0; j < 200; ++j) pool.run_on_all([&](size_t, size_t) { sink.fetch_add(1); });
  }
  EXPECT_EQ(sink.load(), 4 * 200 * 2);
}

}  // namespace
}  // namespace strata
