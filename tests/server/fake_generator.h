// FakeGenerator: a TEST DOUBLE of engine::GenerationService for the HTTP tests. It produces a scripted
// token sequence for every request (no model involved), on its own thread per request, either
// paced by a delay or one token per step() call, and records what the server asked of it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/generation_service.h"

namespace strata::server::testing {

class FakeGenerator final : public engine::GenerationService {
 public:
  struct Script {
    std::vector<int32_t> tokens;                     // generated in order
    engine::FinishReason end = engine::FinishReason::kEndOfGeneration;  // after the tokens (kError: fails)
    int32_t end_token = -1;                          // carried by a kEndOfGeneration event
    Status error;                                    // for end == kError
  };

  ~FakeGenerator() override {
    {
      std::lock_guard lock(mutex_);
      shutting_down_ = true;
    }
    changed_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // Settings; change them only while no request runs.
  void set_script(Script script) {
    std::lock_guard lock(mutex_);
    script_ = std::move(script);
  }
  void set_token_delay(std::chrono::milliseconds delay) { delay_ = delay; }
  void set_manual(bool manual) { manual_ = manual; }  // tokens only on step()
  void set_submit_error(Status status) {
    std::lock_guard lock(mutex_);
    submit_error_ = std::move(status);
  }
  void set_health(engine::HealthState health) {
    std::lock_guard lock(mutex_);
    health_ = std::move(health);
  }
  void set_stats(engine::GeneratorStats stats) {
    std::lock_guard lock(mutex_);
    stats_ = stats;
  }

  // Manual mode: lets every running request produce `n` more events.
  void step(int n = 1) {
    {
      std::lock_guard lock(mutex_);
      steps_ += n;
    }
    changed_.notify_all();
  }

  Result<engine::RequestId> submit(engine::GenerationRequest request, engine::EventCallback on_event) override {
    std::lock_guard lock(mutex_);
    if (!submit_error_.ok()) return submit_error_;
    const engine::RequestId id = next_id_++;
    requests_.push_back(request);
    states_[id] = State{};
    threads_.emplace_back(&FakeGenerator::run, this, id, std::move(request), std::move(on_event), script_);
    return id;
  }

  void cancel(engine::RequestId id) override {
    {
      std::lock_guard lock(mutex_);
      ++cancel_calls_;
      if (auto it = states_.find(id); it != states_.end()) it->second.cancelled = true;
    }
    changed_.notify_all();
  }

  engine::HealthState health() const override {
    std::lock_guard lock(mutex_);
    return health_;
  }
  engine::GeneratorStats stats() const override {
    std::lock_guard lock(mutex_);
    return stats_;
  }

  // Observations.
  std::vector<engine::GenerationRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  int cancel_calls() const {
    std::lock_guard lock(mutex_);
    return cancel_calls_;
  }
  int finished() const {
    std::lock_guard lock(mutex_);
    return finished_;
  }
  // Tokens delivered for request `id` (ids start at 1).
  int tokens_sent(engine::RequestId id) const {
    std::lock_guard lock(mutex_);
    auto it = states_.find(id);
    return it == states_.end() ? 0 : it->second.tokens_sent;
  }
  // Waits until `pred()` holds (checked every 5 ms) or `timeout` passes.
  template <typename Pred>
  static bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pred();
  }

 private:
  struct State {
    bool cancelled = false;
    int tokens_sent = 0;
  };

  // Waits for the next event's turn; false when cancelled (or the generator is going away).
  bool wait_turn(engine::RequestId id) {
    std::unique_lock lock(mutex_);
    if (manual_) {
      changed_.wait(lock, [&] { return states_[id].cancelled || shutting_down_ || steps_ > 0; });
      if (states_[id].cancelled || shutting_down_) return false;
      --steps_;
      return true;
    }
    changed_.wait_for(lock, delay_.load(), [&] { return states_[id].cancelled || shutting_down_; });
    return !(states_[id].cancelled || shutting_down_);
  }

  void run(engine::RequestId id, engine::GenerationRequest request, engine::EventCallback on_event, Script script) {
    int generated = 0;
    for (size_t i = 0;; ++i) {
      if (!wait_turn(id)) {
        engine::TokenEvent cancelled;
        cancelled.finish = engine::FinishReason::kCancelled;
        on_event(cancelled);
        break;
      }
      engine::TokenEvent event;
      if (i < script.tokens.size()) {
        event.token = script.tokens[i];
        ++generated;
        if (request.max_tokens > 0 && generated == request.max_tokens) event.finish = engine::FinishReason::kMaxTokens;
      } else {
        event.finish = script.end;
        if (script.end == engine::FinishReason::kEndOfGeneration) event.token = script.end_token;
        if (script.end == engine::FinishReason::kError) event.error = script.error;
      }
      if (event.token >= 0) {
        std::lock_guard lock(mutex_);
        ++states_[id].tokens_sent;
      }
      event.time = engine::Clock::now();
      if (event.finish != engine::FinishReason::kNone) {
        event.timings.n_prompt = static_cast<int32_t>(request.prompt.size());
        event.timings.n_generated = generated;
      }
      on_event(event);
      if (event.finish != engine::FinishReason::kNone) break;
    }
    std::lock_guard lock(mutex_);
    ++finished_;
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Script script_;
  std::atomic<std::chrono::milliseconds> delay_{std::chrono::milliseconds(0)};
  std::atomic<bool> manual_{false};
  Status submit_error_;
  engine::HealthState health_;
  engine::GeneratorStats stats_;
  int steps_ = 0;
  engine::RequestId next_id_ = 1;
  std::map<engine::RequestId, State> states_;
  std::vector<engine::GenerationRequest> requests_;
  std::vector<std::thread> threads_;
  int cancel_calls_ = 0;
  int finished_ = 0;
  bool shutting_down_ = false;
};

}  // namespace strata::server::testing
