// One generation request between an HTTP thread and the engine::GenerationService (see generation_session.h).
#include "server/generation_session.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace strata::server {

namespace {

double seconds_between(engine::Clock::time_point from, engine::Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

void EventChannel::push(const engine::TokenEvent& event) {
  {
    std::lock_guard lock(mutex_);
    events_.push_back(event);
  }
  ready_.notify_one();
}

bool EventChannel::wait(std::vector<engine::TokenEvent>& out, engine::Clock::time_point until) {
  std::unique_lock lock(mutex_);
  if (!ready_.wait_until(lock, until, [this] { return !events_.empty(); })) return false;
  if (out.empty()) {
    out.swap(events_);
  } else {
    out.insert(out.end(), events_.begin(), events_.end());
    events_.clear();
  }
  return true;
}

GenerationSession::GenerationSession(const ServerContext& ctx, TextPipeline pipeline, int64_t prompt_tokens)
    : ctx_(ctx), pipeline_(std::move(pipeline)), prompt_tokens_(prompt_tokens) {}

GenerationSession::~GenerationSession() {
  if (submitted_ && !done_ && !cancel_requested_) ctx_.generator.cancel(id_);
}

ApiResult<std::unique_ptr<GenerationSession>> GenerationSession::start(const ServerContext& ctx, Prompt prompt,
                                                                       const GenerationFields& fields, bool chat) {
  std::optional<chat::ReasoningSplitOptions> reasoning;
  if (chat && ctx.model.reasoning) {
    reasoning = *ctx.model.reasoning;
    reasoning->starts_in_reasoning = prompt.starts_in_reasoning;
  }
  auto pipeline = TextPipeline::create(ctx.model.tokenizer, fields.stop, reasoning);
  if (!pipeline.ok()) return bad_request("stop", "{}", pipeline.status().message());

  const auto n_prompt = static_cast<int64_t>(prompt.tokens.size());
  std::unique_ptr<GenerationSession> session(new GenerationSession(ctx, std::move(pipeline).value(), n_prompt));

  engine::GenerationRequest request;
  request.prompt = std::move(prompt.tokens);
  request.sampling = fields.sampling;
  request.max_tokens = fields.max_tokens.value_or(-1);
  session->submitted_at_ = engine::Clock::now();
  session->deadline_ = session->submitted_at_ + std::chrono::seconds(std::max(1, ctx.options.request_timeout_s));
  session->last_token_at_ = session->submitted_at_;
  // The callback owns the channel, so events after this session is gone land harmlessly.
  auto submitted = ctx.generator.submit(std::move(request),
                                        [channel = session->channel_](const engine::TokenEvent& event) { channel->push(event); });
  if (!submitted.ok()) return api_error_from_status(submitted.status(), ctx.options.retry_after_s);
  session->id_ = *submitted;
  session->submitted_ = true;
  ctx.metrics.add_prompt_tokens(n_prompt);
  return session;
}

void GenerationSession::cancel() {
  if (!submitted_ || done_ || cancel_requested_) return;
  cancel_requested_ = true;
  ctx_.generator.cancel(id_);
}

void GenerationSession::finish(SessionStep& step, std::string reason) {
  if (done_) return;
  done_ = true;
  step.done = true;
  step.finish_reason = std::move(reason);
}

void GenerationSession::fail(SessionStep& step, ApiError error) {
  if (done_) return;
  if (!cancel_requested_) ctx_.generator.cancel(id_);
  done_ = true;
  step.done = true;
  step.error = std::move(error);
}

void GenerationSession::on_token(const engine::TokenEvent& event) {
  ++completion_tokens_;
  ctx_.metrics.add_generated_tokens(1);
  if (completion_tokens_ == 1) {
    ctx_.metrics.observe_time_to_first_token(seconds_between(submitted_at_, event.time));
  } else {
    ctx_.metrics.observe_inter_token_latency(seconds_between(last_token_at_, event.time));
  }
  last_token_at_ = event.time;
}

SessionStep GenerationSession::next(engine::Clock::duration max_wait) {
  SessionStep step;
  if (done_) {
    step.done = true;
    return step;
  }
  std::vector<engine::TokenEvent> events;
  channel_->wait(events, std::min(engine::Clock::now() + max_wait, deadline_));
  for (const engine::TokenEvent& event : events) {
    if (event.token >= 0) {
      on_token(event);
      // The end-of-generation token is not text; every other token is.
      if (event.finish != engine::FinishReason::kEndOfGeneration) {
        auto delta = pipeline_.push(event.token);
        if (!delta.ok()) {
          fail(step, api_error_from_status(internal_error("the generator produced an unusable token: {}",
                                                          delta.status().message())));
          return step;
        }
        step.delta.reasoning += delta->reasoning;
        step.delta.content += delta->content;
        if (pipeline_.stopped()) {
          cancel();  // a stop string matched: the rest of the generation is not wanted
          finish(step, "stop");
          return step;
        }
      }
    }
    if (event.finish == engine::FinishReason::kNone) continue;
    cached_tokens_ = event.timings.n_cached;
    switch (event.finish) {
      case engine::FinishReason::kEndOfGeneration:
      case engine::FinishReason::kMaxTokens:
      case engine::FinishReason::kContextFull: {
        const TextDelta rest = pipeline_.finish();
        step.delta.reasoning += rest.reasoning;
        step.delta.content += rest.content;
        finish(step, event.finish == engine::FinishReason::kEndOfGeneration ? "stop" : "length");
        return step;
      }
      case engine::FinishReason::kCancelled:
        fail(step, api_error_from_status(unavailable("the generation was cancelled by the server")));
        return step;
      case engine::FinishReason::kError:
        fail(step, api_error_from_status(event.error.ok() ? internal_error("the generation failed") : event.error));
        return step;
      case engine::FinishReason::kNone:
        break;
    }
  }
  if (ctx_.stopping.load()) {
    fail(step, api_error_from_status(unavailable("the server is shutting down")));
  } else if (engine::Clock::now() >= deadline_) {
    spdlog::warn("generation request {} ran past --timeout {} s; cancelled", id_, ctx_.options.request_timeout_s);
    ApiError error = api_error_from_status(make_error(
        ErrorCode::kDeadlineExceeded, "the request took longer than the server's --timeout of {} s; ask for fewer "
                                      "tokens (max_tokens)",
        ctx_.options.request_timeout_s));
    fail(step, std::move(error));
  }
  return step;
}

}  // namespace strata::server
