// OpenAI reply objects and SSE framing (see openai_response.h).
#include "server/openai_response.h"

#include <chrono>
#include <random>

namespace strata::server {

namespace {

Json finish_json(std::optional<std::string_view> finish_reason) {
  return finish_reason ? Json(std::string(*finish_reason)) : Json(nullptr);
}

Json header(const ReplyMeta& meta, std::string_view object) {
  Json out;
  out["id"] = meta.id;
  out["object"] = std::string(object);
  out["created"] = meta.created;
  out["model"] = meta.model;
  return out;
}

}  // namespace

Json Usage::to_json() const {
  Json out;
  out["prompt_tokens"] = prompt_tokens;
  out["completion_tokens"] = completion_tokens;
  out["total_tokens"] = prompt_tokens + completion_tokens;
  out["prompt_tokens_details"] = {{"cached_tokens", cached_tokens}};
  return out;
}

std::string make_reply_id(std::string_view prefix) {
  static constexpr std::string_view kAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string id(prefix);
  std::uniform_int_distribution<size_t> pick(0, kAlphabet.size() - 1);
  for (int i = 0; i < 24; ++i) id += kAlphabet[pick(rng)];
  return id;
}

int64_t unix_seconds_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Json chat_completion_json(const ReplyMeta& meta, const std::string& content, const std::string& reasoning,
                          std::string_view finish_reason, const Usage& usage) {
  Json out = header(meta, "chat.completion");
  Json message;
  message["role"] = "assistant";
  message["content"] = content;
  if (!reasoning.empty()) message["reasoning_content"] = reasoning;
  Json choice;
  choice["index"] = 0;
  choice["message"] = std::move(message);
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = std::string(finish_reason);
  out["choices"] = Json::array({std::move(choice)});
  out["usage"] = usage.to_json();
  return out;
}

Json text_completion_json(const ReplyMeta& meta, const std::string& text, std::string_view finish_reason,
                          const Usage& usage) {
  Json out = header(meta, "text_completion");
  Json choice;
  choice["text"] = text;
  choice["index"] = 0;
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = std::string(finish_reason);
  out["choices"] = Json::array({std::move(choice)});
  out["usage"] = usage.to_json();
  return out;
}

Json chat_chunk_json(const ReplyMeta& meta, Json delta, std::optional<std::string_view> finish_reason,
                     bool include_usage) {
  Json out = header(meta, "chat.completion.chunk");
  Json choice;
  choice["index"] = 0;
  choice["delta"] = std::move(delta);
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_json(finish_reason);
  out["choices"] = Json::array({std::move(choice)});
  if (include_usage) out["usage"] = nullptr;
  return out;
}

Json text_chunk_json(const ReplyMeta& meta, const std::string& text, std::optional<std::string_view> finish_reason,
                     bool include_usage) {
  Json out = header(meta, "text_completion");
  Json choice;
  choice["text"] = text;
  choice["index"] = 0;
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = finish_json(finish_reason);
  out["choices"] = Json::array({std::move(choice)});
  if (include_usage) out["usage"] = nullptr;
  return out;
}

Json usage_chunk_json(const ReplyMeta& meta, std::string_view object, const Usage& usage) {
  Json out = header(meta, object);
  out["choices"] = Json::array();
  out["usage"] = usage.to_json();
  return out;
}

std::string to_wire(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string sse_event(const Json& payload) {
  std::string out = "data: ";
  out += to_wire(payload);
  out += "\n\n";
  return out;
}

}  // namespace strata::server
