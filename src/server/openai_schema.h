// The OpenAI-compatible request bodies strata accepts, parsed and checked field by field: chat
// and text completions, plus llama-server's /tokenize and /detokenize.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sampling/sampling_params.h"
#include "server/api_error.h"
#include "server/json_fields.h"

namespace strata::server {

// What a request may refer to: token ids are checked against the vocabulary, and
// repeat_last_n = -1 means the context size.
struct RequestLimits {
  int32_t n_vocab = 0;
  int32_t n_ctx = 0;  // 0: unknown (-1 windows then use kDefaultPenaltyWindow)
};
inline constexpr int32_t kDefaultPenaltyWindow = 4096;

// Fields shared by /v1/chat/completions and /v1/completions.
struct GenerationFields {
  std::string model;                  // as the client sent it; replies name the served model
  sampling::SamplingParams sampling;  // llama.cpp's defaults for absent fields; validated
  std::optional<int32_t> max_tokens;  // absent or -1: until the end or the context is full
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

struct ChatCompletionRequest {
  GenerationFields fields;
  // Messages for the chat template: roles checked (developer becomes system), text content
  // parts joined into one string, other fields (name, tool_calls, tool_call_id) kept.
  Json messages = Json::array();
  Json tools;                                // null or an array of tool definitions
  Json template_kwargs = Json::object();     // chat_template_kwargs (llama-server's extension)
};

struct CompletionRequest {
  GenerationFields fields;
  std::variant<std::string, std::vector<int32_t>> prompt;  // text, or token ids
};

struct TokenizeRequest {
  std::string content;
  bool add_special = false;   // BOS/EOS as the vocabulary says
  bool parse_special = true;  // "<|im_start|>" in the text becomes that token
  bool with_pieces = false;   // reply [{id, piece}] instead of [id]
};

struct DetokenizeRequest {
  std::vector<int32_t> tokens;
};

// Default max_tokens of /v1/completions when absent, as OpenAI's legacy endpoint.
inline constexpr int32_t kDefaultCompletionMaxTokens = 16;

ApiResult<ChatCompletionRequest> parse_chat_completion_request(std::string_view body, const RequestLimits& limits);
ApiResult<CompletionRequest> parse_completion_request(std::string_view body, const RequestLimits& limits);
ApiResult<TokenizeRequest> parse_tokenize_request(std::string_view body);
ApiResult<DetokenizeRequest> parse_detokenize_request(std::string_view body, const RequestLimits& limits);

}  // namespace strata::server
