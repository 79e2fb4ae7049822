// A fixed set of worker threads that run one parallel loop at a time (the caller joins in).
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

namespace strata {

// Dispatch is lock-free on the hot path: the caller publishes a job by bumping an atomic
// generation counter, and workers that finished a job less than `spin` ago notice it by polling
// (a forward pass dispatches ~150-200 jobs per token, microseconds apart). Workers idle for
// longer than that sleep on the counter (std::atomic::wait), so an idle server burns no CPU.
//
// Rules for callers:
// - One dispatch at a time: run_on_all / parallel_for must not be called concurrently from two
//   threads, nor from inside a job of the same pool (that would deadlock).
// - Jobs must not throw: an exception escaping a job calls std::terminate.
// - Lambdas go through the template overloads, which pass a pointer to the callable instead of
//   building a std::function, so a dispatch never allocates whatever the lambda captures.
class ThreadPool {
 public:
  // How long an idle worker polls for the next job before going to sleep.
  static constexpr uint32_t kDefaultSpinMicroseconds = 200;

  // n_threads counts the calling thread: ThreadPool(1) runs everything inline; 0 means 1.
  explicit ThreadPool(size_t n_threads, uint32_t spin_microseconds = kDefaultSpinMicroseconds);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return n_threads_; }

  // 0 makes idle workers sleep right after each job (lowest CPU use, slower dispatch).
  void set_spin_microseconds(uint32_t us) { spin_us_.store(us, std::memory_order_relaxed); }
  uint32_t spin_microseconds() const { return spin_us_.load(std::memory_order_relaxed); }

  // Idle workers stop polling and sleep now instead of at the end of their spin window: for a
  // caller about to wait on something else (a network reply, another process's stage), so the
  // polling does not take a core from whoever computes meanwhile. The next job wakes them.
  void park() { park_epoch_.fetch_add(1, std::memory_order_relaxed); }

  // Calls fn(i) for every i in [0, n) across the threads and returns when all are done.
  // Indices are handed out one at a time, so uneven work still balances.
  template <class F>
    requires std::invocable<F&, size_t>
  void parallel_for(size_t n, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    parallel_for_erased(n, erase(fn), [](void* ctx, size_t i) noexcept { (*static_cast<Fn*>(ctx))(i); });
  }
  void parallel_for(size_t n, const std::function<void(size_t i)>& fn) {
    parallel_for<const std::function<void(size_t)>&>(n, fn);
  }

  // Calls fn(thread_index, n_threads) once on each thread: for loops that split work
  // themselves (e.g. rows of a matmul by thread).
  template <class F>
    requires std::invocable<F&, size_t, size_t>
  void run_on_all(F&& fn) {
    using Fn = std::remove_reference_t<F>;
    dispatch(erase(fn), [](void* ctx, size_t i, size_t n) noexcept { (*static_cast<Fn*>(ctx))(i, n); });
  }
  void run_on_all(const std::function<void(size_t thread_index, size_t n_threads)>& fn) {
    run_on_all<const std::function<void(size_t, size_t)>&>(fn);
  }

 private:
  using RangeCall = void (*)(void* ctx, size_t thread_index, size_t n_threads) noexcept;
  using IndexCall = void (*)(void* ctx, size_t i) noexcept;

  template <class Fn>
  static void* erase(Fn& fn) {
    return const_cast<void*>(static_cast<const void*>(std::addressof(fn)));
  }

  void dispatch(void* ctx, RangeCall call);
  void parallel_for_erased(size_t n, void* ctx, IndexCall call);
  void worker_loop(size_t thread_index);
  // Polls (then sleeps) until the generation moves past `seen`; stops polling early once the
  // park epoch differs from `park_seen`, the epoch read when the worker finished its last job.
  uint32_t await_generation(uint32_t seen, uint32_t park_seen);
  void await_workers();
  void stop_workers();

  const size_t n_threads_;
  std::atomic<uint32_t> spin_us_;
  std::vector<std::thread> workers_;

  // Written by the caller, read by workers: the job is published by the release increment of
  // generation_, and rewritten only after every worker has reported back through pending_.
  alignas(64) std::atomic<uint32_t> generation_{0};
  void* job_ctx_ = nullptr;
  RangeCall job_call_ = nullptr;
  bool stopping_ = false;

  // Workers currently blocked in generation_.wait(); the caller notifies only when nonzero.
  alignas(64) std::atomic<uint32_t> sleepers_{0};

  // Workers still running the current job; the last one wakes the caller if it went to sleep.
  alignas(64) std::atomic<uint32_t> pending_{0};
  std::atomic<bool> caller_sleeping_{false};

  // Bumped by park(): polling workers that see it change go to sleep.
  alignas(64) std::atomic<uint32_t> park_epoch_{0};
};

}  // namespace strata
