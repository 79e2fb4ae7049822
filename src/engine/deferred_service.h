// DeferredService: stands in for the real GenerationService while the model loads, so the HTTP
// server can listen at once and /health answer "loading" (as llama-server does) instead of
// refusing connections during a long load (a 70B model, remote stages being prepared).
#pragma once

#include <atomic>
#include <string>

#include "engine/generation_service.h"

namespace strata::engine {

class DeferredService final : public GenerationService {
 public:
  explicit DeferredService(std::string loading_reason) : reason_(std::move(loading_reason)) {}

  // From now on every call goes to `service`, which must outlive this object's use.
  void set(GenerationService& service) { service_.store(&service, std::memory_order_release); }

  Result<RequestId> submit(GenerationRequest request, EventCallback on_event) override {
    if (GenerationService* s = service_.load(std::memory_order_acquire)) {
      return s->submit(std::move(request), std::move(on_event));
    }
    return unavailable("{}; retry when /health says ok", reason());
  }
  void cancel(RequestId id) override {
    if (GenerationService* s = service_.load(std::memory_order_acquire)) s->cancel(id);
  }
  HealthState health() const override {
    if (GenerationService* s = service_.load(std::memory_order_acquire)) return s->health();
    return {HealthState::Status::kLoading, reason()};
  }
  GeneratorStats stats() const override {
    if (GenerationService* s = service_.load(std::memory_order_acquire)) return s->stats();
    return {};
  }

 private:
  const std::string& reason() const { return reason_; }

  std::atomic<GenerationService*> service_{nullptr};
  const std::string reason_;
};

}  // namespace strata::engine
