// Scheduler: the engine's GenerationService. One thread runs the model over -np slots with
// continuous batching: every step carries the next token of each decoding slot plus a chunk of
// the prompts being prefilled, so new requests join without stalling running streams.
//
// Each slot is one KV sequence of the model. A slot remembers which tokens its cells hold after
// its request ends, so the next request that shares a prefix (a follow-up chat turn, a common
// system prompt) prefills only the rest; a prefix held by another slot is copied over.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include "engine/batch.h"
#include "engine/generation_service.h"
#include "model/model.h"
#include "sampling/sampler.h"

namespace strata::engine {

struct SchedulerConfig {
  int32_t queue_size = 64;  // accepted requests that may wait for a slot; more are refused
  // Most prompt tokens one step prefills while other slots are decoding, so a long prompt
  // delays their next token by one chunk, not by the whole prompt. With no slot decoding a
  // step prefills up to the model's n_batch.
  int32_t prefill_chunk = 128;
  std::vector<int32_t> end_tokens;  // sampling one of these ends a generation (EOS, EOT, ...)
  // Asked on every health() call when set (e.g. the distributed stages' state).
  std::function<HealthState()> health_probe;
  // Asked before every step when set: a new value means the model's KV caches were emptied
  // behind the scheduler's back (a worker restarted), so no slot's cached prefix is valid and
  // the requests running on them cannot continue.
  std::function<uint64_t()> cache_epoch;
};

class Scheduler final : public GenerationService {
 public:
  // The model must outlive the scheduler; its KV sequences are the slots. Starts the thread.
  static Result<std::unique_ptr<Scheduler>> create(model::Model& model, SchedulerConfig config);

  // Stops the thread; requests still queued or running get a final kError event
  // (unavailable: the server is shutting down).
  ~Scheduler() override;

  Result<RequestId> submit(GenerationRequest request, EventCallback on_event) override;
  void cancel(RequestId id) override;
  HealthState health() const override;
  GeneratorStats stats() const override;

 private:
  struct Pending {
    RequestId id = 0;
    GenerationRequest request;
    EventCallback on_event;
  };

  struct Slot {
    int32_t seq = 0;
    std::vector<int32_t> cached;  // the tokens whose K/V fill this sequence's cells, in order
    uint64_t last_used = 0;       // step of the last assignment (free slots are reused LRU)
    std::optional<Pending> active;
    std::optional<sampling::Sampler> sampler;
    size_t n_prefilled = 0;       // prompt tokens in the cache (reused + computed)
    int32_t n_cached = 0;         // of those, reused from an earlier request
    int32_t n_generated = 0;
    int32_t next_token = -1;      // sampled, not yet in the cache (decode phase)
    bool in_batch = false;        // has a row in the step being run
    size_t batch_tokens = 0;      // prompt tokens of this step (prefill)
    Clock::time_point prefill_start;
    Clock::time_point first_token_at;

    bool busy() const { return active.has_value(); }
    bool decoding() const { return busy() && n_prefilled == active->request.prompt.size(); }
  };

  Scheduler(model::Model& model, SchedulerConfig config);

  void loop();
  // One step of the loop thread; false when there was nothing to do.
  bool step();
  void check_cache_epoch();
  void take_cancellations();
  void assign_queued();
  void start_request(Slot& slot, Pending pending);
  Status reuse_prefix(Slot& slot, const std::vector<int32_t>& prompt);
  void build_batch();
  void after_forward(const Status& forward_status);
  void sample_slot(Slot& slot, size_t output_row);
  void finish(Slot& slot, FinishReason reason, int32_t token, Status error = {});
  void publish_stats();

  model::Model& model_;
  SchedulerConfig config_;
  uint64_t n_ctx_per_seq_ = 0;
  int32_t n_vocab_ = 0;

  // Owned by the loop thread.
  std::vector<Slot> slots_;
  Batch batch_;
  std::vector<Slot*> output_slots_;  // slot of each output row of the batch, in order
  std::vector<Slot*> prefilling_;    // build_batch's scratch: slots still prefilling
  uint64_t step_count_ = 0;
  uint64_t cache_epoch_ = 0;

  // Shared with submit()/cancel()/stats(), under mutex_.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  std::unordered_set<RequestId> cancelled_;
  RequestId next_id_ = 1;
  bool stopping_ = false;
  GeneratorStats stats_;

  std::thread thread_;
};

}  // namespace strata::engine
