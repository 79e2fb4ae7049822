// GenerationService: what the HTTP layer needs from whatever produces tokens (the engine's scheduler).
// The server works in token ids here; text, templates and stop strings stay on its side.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "sampling/sampling_params.h"

namespace strata::engine {

using RequestId = uint64_t;
using Clock = std::chrono::steady_clock;

// Why a request's generation ended.
enum class FinishReason {
  kNone,             // still running (every event but the last)
  kEndOfGeneration,  // the model sampled an end-of-generation token (EOS, EOT, <|im_end|>, ...)
  kMaxTokens,        // GenerationRequest::max_tokens tokens were generated
  kContextFull,      // the sequence's context has no room for another token
  kCancelled,        // cancel() was called (client gone, stop string matched, timeout)
  kError,            // the generation failed; TokenEvent::error says why
};

struct GenerationRequest {
  std::vector<int32_t> prompt;        // non-empty; every id is inside the vocabulary
  sampling::SamplingParams sampling;  // already passed sampling::validate for the vocabulary
  int32_t max_tokens = -1;            // > 0: stop after this many tokens; -1: until end or context full
};

// Filled on the final event; zero where the generator does not measure.
struct GenerationTimings {
  int32_t n_prompt = 0;       // prompt tokens of this request
  int32_t n_cached = 0;       // of those, reused from the prompt cache (not recomputed)
  double prompt_ms = 0.0;     // prefill of the uncached part
  int32_t n_generated = 0;    // tokens sampled
  double generation_ms = 0.0; // from the first sampled token to the last
};

// One step of a request. Every generated token comes in its own event, in order; the last
// event has finish != kNone (it may also carry the token that ended the generation, e.g. the
// end-of-generation token or the max_tokens-th token).
struct TokenEvent {
  int32_t token = -1;  // the sampled token, or -1 when the event carries none
  FinishReason finish = FinishReason::kNone;
  Status error;        // finish == kError: why (e.g. unavailable when a worker is gone)
  Clock::time_point time = Clock::now();  // when the token was sampled (latency metrics)
  GenerationTimings timings;              // final event only
};

// Called on the generator's thread. It must return quickly (it only queues the event) and
// must not call back into the service. Calls for one request never overlap.
using EventCallback = std::function<void(const TokenEvent& event)>;

struct HealthState {
  enum class Status { kOk, kLoading, kDegraded };
  Status status = Status::kOk;
  std::string reason;  // for loading and degraded: what is wrong, for /health
};

// A snapshot for /metrics.
struct GeneratorStats {
  int64_t slots_busy = 0;
  int64_t slots_total = 0;
  int64_t kv_cells_used = 0;
  int64_t kv_cells_total = 0;
  int64_t queue_length = 0;    // accepted requests waiting for a slot
  int64_t queue_capacity = 0;  // --queue-size
};

// Thread safety: every method may be called from any thread at any time.
class GenerationService {
 public:
  virtual ~GenerationService() = default;

  // Queues a request; `on_event` is then called for each event, possibly before submit()
  // returns. Exactly one final event (finish != kNone) is delivered for every accepted
  // request, cancelled ones included; after it `on_event` is released and never called again.
  // Errors (no events follow): resource_exhausted when the queue is full (HTTP 503 with
  // Retry-After), unavailable while loading or degraded (503), invalid_argument for a request
  // this model cannot run, e.g. a prompt longer than a slot's context (400).
  virtual Result<RequestId> submit(GenerationRequest request, EventCallback on_event) = 0;

  // Stops a request soon (its slot is freed within one step); its final event then says
  // kCancelled unless it had already finished. Unknown or finished ids are ignored.
  virtual void cancel(RequestId id) = 0;

  virtual HealthState health() const = 0;
  virtual GeneratorStats stats() const = 0;
};

}  // namespace strata::engine
