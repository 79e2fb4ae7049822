// Chat and text completion handlers (see completion_routes.h).
#include "server/completion_routes.h"

#include <chrono>
#include <memory>

#include "server/generation_session.h"
#include "server/http_reply.h"
#include "server/openai_response.h"
#include "server/prompt_builder.h"

namespace strata::server {

namespace {

// How long one wait for tokens lasts before the stream checks that its client is still there.
constexpr auto kPollInterval = std::chrono::milliseconds(100);

enum class Kind { kChat, kText };

// Writes one streamed reply. Runs on the HTTP thread inside cpp-httplib's chunked content
// provider, which calls pump() until the stream is done or a write fails.
class SseStream {
 public:
  SseStream(std::unique_ptr<GenerationSession> session, ReplyMeta meta, Kind kind, bool include_usage)
      : session_(std::move(session)), meta_(std::move(meta)), kind_(kind), include_usage_(include_usage) {}

  bool pump(httplib::DataSink& sink) {
    if (!started_) {
      started_ = true;
      // OpenAI's first chat chunk announces the role with empty content.
      if (kind_ == Kind::kChat && !write(sink, chunk(Json{{"role", "assistant"}, {"content", ""}}, std::nullopt))) {
        return false;
      }
    }
    const SessionStep step = session_->next(kPollInterval);
    if (!step.delta.reasoning.empty() && !write(sink, chunk(Json{{"reasoning_content", step.delta.reasoning}}, {}))) {
      return false;
    }
    if (!step.delta.content.empty()) {
      const Json payload = kind_ == Kind::kChat ? chunk(Json{{"content", step.delta.content}}, std::nullopt)
                                                : text_chunk_json(meta_, step.delta.content, std::nullopt, include_usage_);
      if (!write(sink, payload)) return false;
    }
    if (step.done) {
      if (step.error) {
        // Mid-stream failures travel as an error object, which OpenAI clients raise.
        if (!write_raw(sink, sse_event(step.error->to_json()))) return false;
      } else {
        const Json last = kind_ == Kind::kChat ? chunk(Json::object(), step.finish_reason)
                                               : text_chunk_json(meta_, "", step.finish_reason, include_usage_);
        if (!write(sink, last)) return false;
        if (include_usage_) {
          const std::string_view object = kind_ == Kind::kChat ? "chat.completion.chunk" : "text_completion";
          if (!write(sink, usage_chunk_json(meta_, object, session_->usage()))) return false;
        }
        if (!write_raw(sink, kSseDone)) return false;
      }
      sink.done();
      return true;
    }
    if (step.delta.empty() && sink.is_writable && !sink.is_writable()) {
      session_->cancel();  // the client went away while no token was due
      return false;
    }
    return true;
  }

  // The provider ended early (client gone, write failed, server stopping).
  void abandon() { session_->cancel(); }

 private:
  Json chunk(Json delta, std::optional<std::string_view> finish_reason) const {
    return chat_chunk_json(meta_, std::move(delta), finish_reason, include_usage_);
  }

  bool write(httplib::DataSink& sink, const Json& payload) { return write_raw(sink, sse_event(payload)); }

  bool write_raw(httplib::DataSink& sink, std::string_view data) {
    if (sink.write(data.data(), data.size())) return true;
    session_->cancel();
    return false;
  }

  std::unique_ptr<GenerationSession> session_;
  ReplyMeta meta_;
  Kind kind_;
  bool include_usage_;
  bool started_ = false;
};

void respond(const ServerContext& ctx, ApiResult<Prompt> prompt, const GenerationFields& fields, Kind kind,
             const ClientProbe& client, httplib::Response& res) {
  if (!prompt.ok()) return send_error(res, prompt.error());
  auto session = GenerationSession::start(ctx, std::move(prompt).value(), fields, kind == Kind::kChat);
  if (!session.ok()) return send_error(res, session.error());

  ReplyMeta meta{make_reply_id(kind == Kind::kChat ? "chatcmpl-" : "cmpl-"), unix_seconds_now(), ctx.model.id};
  if (fields.stream) {
    auto stream = std::make_shared<SseStream>(std::move(session).value(), std::move(meta), kind, fields.include_usage);
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");  // proxies must not hold chunks back
    res.set_chunked_content_provider(
        "text/event-stream", [stream](size_t, httplib::DataSink& sink) { return stream->pump(sink); },
        [stream](bool success) {
          if (!success) stream->abandon();
        });
    return;
  }

  GenerationSession& s = *session.value();
  std::string content;
  std::string reasoning;
  for (;;) {
    SessionStep step = s.next(kPollInterval);
    content += step.delta.content;
    reasoning += step.delta.reasoning;
    if (!step.done) {
      if (client.client_gone()) {
        s.cancel();  // nobody will read the reply: free the slot now
        res.status = 499;  // nginx's "client closed request"; only the access log sees it
        return;
      }
      continue;
    }
    if (step.error) return send_error(res, *step.error);
    const Json reply = kind == Kind::kChat ? chat_completion_json(meta, content, reasoning, step.finish_reason, s.usage())
                                           : text_completion_json(meta, content, step.finish_reason, s.usage());
    return send_json(res, reply);
  }
}

RequestLimits limits_of(const ServerContext& ctx) {
  return {static_cast<int32_t>(ctx.model.tokenizer.size()), ctx.model.n_ctx};
}

}  // namespace

void handle_chat_completions(const ServerContext& ctx, const std::string& body, const ClientProbe& client,
                             httplib::Response& res) {
  ApiResult<ChatCompletionRequest> request = parse_chat_completion_request(body, limits_of(ctx));
  if (!request.ok()) return send_error(res, request.error());
  respond(ctx, build_chat_prompt(ctx.model, request.value()), request->fields, Kind::kChat, client, res);
}

void handle_completions(const ServerContext& ctx, const std::string& body, const ClientProbe& client,
                        httplib::Response& res) {
  ApiResult<CompletionRequest> request = parse_completion_request(body, limits_of(ctx));
  if (!request.ok()) return send_error(res, request.error());
  respond(ctx, build_completion_prompt(ctx.model, request.value()), request->fields, Kind::kText, client, res);
}

}  // namespace strata::server
