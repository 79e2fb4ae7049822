// ModelInfo: what the HTTP layer knows about the served model (name, tokenizer, chat template,
// reasoning tags, context), and how to read it from a GGUF file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "chat/chat_template.h"
#include "chat/reasoning_split.h"
#include "core/status.h"
#include "tokenizer/tokenizer.h"

namespace strata::gguf {
class File;
}

namespace strata::server {

struct ModelInfo {
  explicit ModelInfo(tokenizer::Tokenizer t) : tokenizer(std::move(t)) {}

  std::string id = "model";  // --alias or the file name: /v1/models and every reply's "model"
  int64_t created = 0;       // unix seconds, for /v1/models
  tokenizer::Tokenizer tokenizer;
  std::optional<chat::ChatTemplate> chat_template;  // none: chat completions answer 400
  std::optional<std::string> bos_token;              // texts passed to the template
  std::optional<std::string> eos_token;
  // Set when the model writes <think>…</think> (replies then carry reasoning_content).
  std::optional<chat::ReasoningSplitOptions> reasoning;
  int32_t n_ctx = 0;  // context cells one request may use (a slot); 0: unknown, not checked here
};

enum class ReasoningFormat {
  kAuto,      // split <think> blocks when the chat template mentions <think>
  kNone,      // never split: reasoning stays in content
  kDeepSeek,  // always split <think>…</think>
};

// Accepts auto, none, deepseek.
Result<ReasoningFormat> parse_reasoning_format(std::string_view name);

struct ModelInfoOptions {
  std::string alias;                            // empty: the file name
  std::optional<std::string> template_source;   // --chat-template-file contents; else the GGUF's
  ReasoningFormat reasoning = ReasoningFormat::kAuto;
  int32_t n_ctx = 0;
};

// ChatML, for models whose GGUF carries no chat template.
std::string_view chatml_template();

// Reads the vocabulary and tokenizer.chat_template (or options.template_source) from a GGUF.
// Errors: no usable vocabulary, a template that does not parse.
Result<ModelInfo> load_model_info(const gguf::File& file, const ModelInfoOptions& options);

// Reasoning settings for a template source and format (nullopt: no splitting).
std::optional<chat::ReasoningSplitOptions> reasoning_for_template(std::string_view template_source,
                                                                  ReasoningFormat format);

}  // namespace strata::server
