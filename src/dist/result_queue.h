// Outputs of a chain's last stage waiting to go out on a coordinator's Results stream.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "core/status.h"
#include "dist/proto/worker.pb.h"

namespace strata::dist {

class ResultQueue {
 public:
  // Bounded so a coordinator that stopped reading cannot make the worker hoard memory.
  static constexpr size_t kMaxPending = 256;

  Status push(v1::ForwardReply reply) {
    std::lock_guard lock(mutex_);
    if (closed_) return unavailable("the coordinator's Results stream has closed");
    if (items_.size() >= kMaxPending) {
      return resource_exhausted("{} outputs are waiting for the coordinator to read them", items_.size());
    }
    items_.push_back(std::move(reply));
    ready_.notify_one();
    return {};
  }

  std::optional<v1::ForwardReply> pop(std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, wait, [this] { return !items_.empty() || closed_; });
    if (items_.empty()) return std::nullopt;
    v1::ForwardReply out = std::move(items_.front());
    items_.pop_front();
    return out;
  }

  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    ready_.notify_all();
  }

  bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<v1::ForwardReply> items_;
  bool closed_ = false;
};

}  // namespace strata::dist
