// From a parsed request to prompt token ids: the chat template for chat completions, the
// tokenizer for text prompts, and the context-length checks both need.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "server/api_error.h"
#include "server/model_info.h"
#include "server/openai_schema.h"

namespace strata::server {

struct Prompt {
  std::vector<int32_t> tokens;
  // The rendered prompt ends inside a <think> block (e.g. DeepSeek-R1 templates end with
  // "<think>\n"), so generated text starts as reasoning.
  bool starts_in_reasoning = false;
};

ApiResult<Prompt> build_chat_prompt(const ModelInfo& model, const ChatCompletionRequest& request);
ApiResult<Prompt> build_completion_prompt(const ModelInfo& model, const CompletionRequest& request);

}  // namespace strata::server
