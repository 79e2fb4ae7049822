// HttpTaskQueue: the thread pool behind cpp-httplib's server. A connection holds its thread for
// as long as it is open (including idle keep-alive time and clients that send nothing), so a
// fixed pool of a few threads is starved by a handful of idle sockets. This pool grows on demand
// up to a cap and shrinks back when threads sit idle.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace strata::server {

class HttpTaskQueue : public httplib::TaskQueue {
 public:
  // Keeps `min_threads` alive; starts more (up to `max_threads`) while every thread is busy;
  // an extra thread idle for `idle_exit` ends.
  HttpTaskQueue(size_t min_threads, size_t max_threads,
                std::chrono::milliseconds idle_exit = std::chrono::seconds(30));
  ~HttpTaskQueue() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;  // runs what is queued, then joins every thread

  size_t thread_count() const;

 private:
  void worker(std::list<std::thread>::iterator self);
  void reap_locked(std::list<std::thread>& out);

  const size_t min_threads_;
  const size_t max_threads_;
  const std::chrono::milliseconds idle_exit_;
  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::deque<std::function<void()>> jobs_;
  std::list<std::thread> threads_;
  std::list<std::thread> exited_;  // finished workers waiting to be joined
  size_t idle_ = 0;      // waiting for a job
  size_t starting_ = 0;  // started, not yet waiting: as good as idle for new jobs
  bool shutting_down_ = false;
};

}  // namespace strata::server
