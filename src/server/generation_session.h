// GenerationSession: one request handed to the engine::GenerationService, seen from an HTTP thread. Token events
// arrive on the generator's thread and queue up; the HTTP thread takes them in steps, turns
// them into text, applies stop strings and the deadline, and records latency metrics.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/api_error.h"
#include "server/openai_response.h"
#include "server/openai_schema.h"
#include "server/prompt_builder.h"
#include "server/server_context.h"
#include "server/text_pipeline.h"

namespace strata::server {

// Events from the generator's thread to the HTTP thread.
class EventChannel {
 public:
  void push(const engine::TokenEvent& event);
  // Takes every queued event, waiting until `until` when none is queued. False on timeout.
  bool wait(std::vector<engine::TokenEvent>& out, engine::Clock::time_point until);

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<engine::TokenEvent> events_;
};

struct SessionStep {
  TextDelta delta;                  // text released by this step
  bool done = false;
  std::string finish_reason;        // "stop" or "length", when done without error
  std::optional<ApiError> error;    // when done because something failed (or timed out)
};

class GenerationSession {
 public:
  // Submits the request. Errors are the HTTP replies to send (503 queue full, 400, ...).
  static ApiResult<std::unique_ptr<GenerationSession>> start(const ServerContext& ctx, Prompt prompt,
                                                             const GenerationFields& fields, bool chat);
  ~GenerationSession();  // cancels a generation that has not finished
  GenerationSession(const GenerationSession&) = delete;
  GenerationSession& operator=(const GenerationSession&) = delete;

  // Waits at most `max_wait` for events and processes them.
  SessionStep next(engine::Clock::duration max_wait);
  // Stops the generation (client gone); later steps report done with an error.
  void cancel();

  bool done() const { return done_; }
  Usage usage() const { return {prompt_tokens_, completion_tokens_, cached_tokens_}; }

 private:
  GenerationSession(const ServerContext& ctx, TextPipeline pipeline, int64_t prompt_tokens);
  void finish(SessionStep& step, std::string reason);
  void fail(SessionStep& step, ApiError error);
  void on_token(const engine::TokenEvent& event);

  const ServerContext& ctx_;
  TextPipeline pipeline_;
  std::shared_ptr<EventChannel> channel_ = std::make_shared<EventChannel>();
  engine::RequestId id_ = 0;
  bool submitted_ = false;
  bool done_ = false;
  bool cancel_requested_ = false;
  int64_t prompt_tokens_ = 0;
  int64_t cached_tokens_ = 0;  // from the final event's timings
  int64_t completion_tokens_ = 0;
  engine::Clock::time_point submitted_at_;
  engine::Clock::time_point deadline_;
  engine::Clock::time_point last_token_at_;
};

}  // namespace strata::server
