// The reply objects of the OpenAI API (chat.completion, chat.completion.chunk, text_completion,
// model list) and the server-sent-events framing of streamed replies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/json_fields.h"

namespace strata::server {

struct ReplyMeta {
  std::string id;       // "chatcmpl-…" or "cmpl-…"
  int64_t created = 0;  // unix seconds
  std::string model;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;  // prompt tokens reused from a slot's cache, not recomputed
  // {prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details: {cached_tokens}}
  Json to_json() const;
};

// prefix + 24 random alphanumerics, e.g. "chatcmpl-3Fq…".
std::string make_reply_id(std::string_view prefix);
int64_t unix_seconds_now();

// Non-streamed replies. `reasoning` is included (as reasoning_content) only when non-empty.
Json chat_completion_json(const ReplyMeta& meta, const std::string& content, const std::string& reasoning,
                          std::string_view finish_reason, const Usage& usage);
Json text_completion_json(const ReplyMeta& meta, const std::string& text, std::string_view finish_reason,
                          const Usage& usage);

// Streamed chunks. `delta` is the chat delta object ({"role"}, {"content"}, {"reasoning_content"}
// or {}); finish_reason null until the last chunk. With include_usage every chunk carries
// "usage": null, and the usage chunk has empty choices, as OpenAI sends them.
Json chat_chunk_json(const ReplyMeta& meta, Json delta, std::optional<std::string_view> finish_reason,
                     bool include_usage);
Json text_chunk_json(const ReplyMeta& meta, const std::string& text, std::optional<std::string_view> finish_reason,
                     bool include_usage);
Json usage_chunk_json(const ReplyMeta& meta, std::string_view object, const Usage& usage);

// "data: <json>\n\n", and the stream's end "data: [DONE]\n\n".
std::string sse_event(const Json& payload);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// Serializes for the wire: compact, and never throws on bytes that are not UTF-8.
std::string to_wire(const Json& value);

}  // namespace strata::server
