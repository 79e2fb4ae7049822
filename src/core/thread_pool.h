// A fixed set of worker threads that run one parallel loop at a time (the caller joins in).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace strata {

class ThreadPool {
 public:
  // n_threads counts the calling thread: ThreadPool(1) runs everything inline.
  explicit ThreadPool(size_t n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return workers_.size() + 1; }

  // Calls fn(i) for every i in [0, n) across the threads and returns when all are done.
  // Indices are handed out one at a time, so uneven work still balances.
  void parallel_for(size_t n, const std::function<void(size_t i)>& fn);

  // Calls fn(thread_index, n_threads) once on each thread: for loops that split work
  // themselves (e.g. rows of a matmul by thread).
  void run_on_all(const std::function<void(size_t thread_index, size_t n_threads)>& fn);

 private:
  void worker_loop(size_t thread_index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(size_t, size_t)>* job_ = nullptr;
  uint64_t generation_ = 0;
  size_t pending_ = 0;
  bool stopping_ = false;
};

}  // namespace strata
