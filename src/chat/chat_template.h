// Chat formatting: renders OpenAI-style messages (and tools) into a model's prompt text with
// its chat template, passing the variables Hugging Face's apply_chat_template passes.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "chat/jinja_template.h"
#include "core/status.h"

namespace strata::chat {

struct ChatTemplateInputs {
  // A JSON array of message objects ({role, content, tool_calls, ...}). Use ordered_json
  // when parsing requests so tojson prints keys in the order the client sent them.
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  // Null: no tools (the template sees `tools` as none); otherwise an array of definitions.
  nlohmann::ordered_json tools;
  bool add_generation_prompt = true;
  // Defined for the template only when set.
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  // More template variables (enable_thinking, date_string, ...): a JSON object. They may
  // not reuse the names above.
  nlohmann::ordered_json extra_variables = nlohmann::ordered_json::object();
};

class ChatTemplate {
 public:
  static Result<ChatTemplate> parse(std::string_view source, const TemplateOptions& options = {});

  // Errors: invalid inputs, and template errors ("TemplateError at 12:5: ..." for
  // raise_exception, TypeError/UndefinedError for template bugs, LimitExceeded).
  Result<std::string> apply(const ChatTemplateInputs& inputs, const RenderOptions& options = {}) const;

  const JinjaTemplate& engine() const { return template_; }

 private:
  explicit ChatTemplate(JinjaTemplate t) : template_(std::move(t)) {}
  Result<std::string> apply_checked(const ChatTemplateInputs& inputs, const RenderOptions& options) const;
  JinjaTemplate template_;
};

// Accepts a JSON array of messages or an object with a "messages" array (and optionally
// "tools"), as chat-completion request bodies have.
Result<ChatTemplateInputs> chat_inputs_from_json(const nlohmann::ordered_json& document);

}  // namespace strata::chat
