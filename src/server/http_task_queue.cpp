// Elastic thread pool for cpp-httplib connections (see http_task_queue.h).
#include "server/http_task_queue.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <system_error>

namespace strata::server {

HttpTaskQueue::HttpTaskQueue(size_t min_threads, size_t max_threads, std::chrono::milliseconds idle_exit)
    : min_threads_(std::max<size_t>(1, min_threads)),
      max_threads_(std::max(std::max<size_t>(1, min_threads), max_threads)),
      idle_exit_(idle_exit) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < min_threads_; ++i) {
    try {
      auto self = threads_.emplace(threads_.end());
      *self = std::thread(&HttpTaskQueue::worker, this, self);
      ++starting_;
    } catch (const std::system_error& e) {
      threads_.pop_back();
      spdlog::error("http: could not start a connection thread: {}", e.what());
      break;
    }
  }
}

HttpTaskQueue::~HttpTaskQueue() { shutdown(); }

size_t HttpTaskQueue::thread_count() const {
  std::lock_guard lock(mutex_);
  return threads_.size();
}

void HttpTaskQueue::reap_locked(std::list<std::thread>& out) { out.splice(out.end(), exited_); }

void HttpTaskQueue::enqueue(std::function<void()> fn) {
  std::list<std::thread> finished;
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(fn));
    if (idle_ + starting_ < jobs_.size() && threads_.size() < max_threads_ && !shutting_down_) {
      try {
        auto self = threads_.emplace(threads_.end());
        *self = std::thread(&HttpTaskQueue::worker, this, self);
        ++starting_;
      } catch (const std::system_error& e) {
        // The job waits for a running thread instead.
        threads_.pop_back();
        spdlog::warn("http: could not start another connection thread ({} running): {}", threads_.size(), e.what());
      }
    }
    reap_locked(finished);
  }
  work_ready_.notify_one();
  for (std::thread& t : finished) t.join();
}

void HttpTaskQueue::shutdown() {
  std::list<std::thread> all;
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
    all.splice(all.end(), threads_);
    all.splice(all.end(), exited_);
  }
  work_ready_.notify_all();
  for (std::thread& t : all) {
    if (t.joinable()) t.join();
  }
}

void HttpTaskQueue::worker(std::list<std::thread>::iterator self) {
  std::unique_lock lock(mutex_);
  --starting_;
  for (;;) {
    ++idle_;
    const bool woken = work_ready_.wait_for(lock, idle_exit_, [this] { return shutting_down_ || !jobs_.empty(); });
    --idle_;
    if (jobs_.empty()) {
      if (shutting_down_) return;  // shutdown() joins this thread
      if (!woken && threads_.size() > min_threads_) {
        exited_.splice(exited_.end(), threads_, self);  // the next enqueue() joins it
        return;
      }
      continue;
    }
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("http: a connection ended with an exception: {}", e.what());
    } catch (...) {
      spdlog::error("http: a connection ended with an unknown exception");
    }
    lock.lock();
  }
}

}  // namespace strata::server
