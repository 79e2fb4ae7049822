// Chat formatting with a model's template (see chat_template.h).
#include "chat/chat_template.h"

#include <array>
#include <new>

namespace strata::chat {

namespace {

constexpr std::array<std::string_view, 6> kStandardVariables = {
    "messages", "tools", "documents", "add_generation_prompt", "bos_token", "eos_token",
};

Status validate(const ChatTemplateInputs& inputs) {
  if (!inputs.messages.is_array()) {
    return invalid_argument("messages must be a JSON array of message objects, got {}", inputs.messages.type_name());
  }
  for (size_t i = 0; i < inputs.messages.size(); ++i) {
    const auto& m = inputs.messages[i];
    if (!m.is_object()) {
      return invalid_argument("messages[{}] must be an object with \"role\" and \"content\", got {}", i, m.type_name());
    }
    const auto role = m.find("role");
    if (role == m.end() || !role->is_string()) {
      return invalid_argument("messages[{}] needs a string \"role\" (system, user, assistant or tool)", i);
    }
  }
  if (!inputs.tools.is_null() && !inputs.tools.is_array()) {
    return invalid_argument("tools must be a JSON array of tool definitions, got {}", inputs.tools.type_name());
  }
  if (!inputs.extra_variables.is_object()) {
    return invalid_argument("extra template variables must be a JSON object, got {}",
                            inputs.extra_variables.type_name());
  }
  for (auto it = inputs.extra_variables.begin(); it != inputs.extra_variables.end(); ++it) {
    for (std::string_view name : kStandardVariables) {
      if (it.key() == name) {
        return invalid_argument("extra template variable '{}' would replace a standard one; set it through its own field",
                                it.key());
      }
    }
  }
  return Status();
}

}  // namespace

Result<ChatTemplate> ChatTemplate::parse(std::string_view source, const TemplateOptions& options) {
  auto parsed = JinjaTemplate::parse(source, options);
  if (!parsed.ok()) return std::move(parsed).status();
  return ChatTemplate(std::move(parsed).value());
}

Result<std::string> ChatTemplate::apply(const ChatTemplateInputs& inputs, const RenderOptions& options) const {
  try {
    return apply_checked(inputs, options);
  } catch (const std::bad_alloc&) {
    return resource_exhausted("out of memory while formatting the chat");
  } catch (const std::exception& e) {
    return internal_error("formatting the chat failed: {}", e.what());
  }
}

Result<std::string> ChatTemplate::apply_checked(const ChatTemplateInputs& inputs, const RenderOptions& options) const {
  STRATA_TRY(validate(inputs));
  static const nlohmann::ordered_json kNull;
  const nlohmann::ordered_json add_generation_prompt = inputs.add_generation_prompt;
  const nlohmann::ordered_json bos = inputs.bos_token.value_or(std::string());
  const nlohmann::ordered_json eos = inputs.eos_token.value_or(std::string());
  JinjaTemplate::Variables variables;
  variables.emplace_back("messages", &inputs.messages);
  variables.emplace_back("tools", &inputs.tools);
  variables.emplace_back("documents", &kNull);
  variables.emplace_back("add_generation_prompt", &add_generation_prompt);
  if (inputs.bos_token.has_value()) variables.emplace_back("bos_token", &bos);
  if (inputs.eos_token.has_value()) variables.emplace_back("eos_token", &eos);
  for (auto it = inputs.extra_variables.begin(); it != inputs.extra_variables.end(); ++it) {
    variables.emplace_back(it.key(), &it.value());
  }
  return template_.render(variables, options);
}

Result<ChatTemplateInputs> chat_inputs_from_json(const nlohmann::ordered_json& document) try {
  ChatTemplateInputs inputs;
  if (document.is_array()) {
    inputs.messages = document;
    return inputs;
  }
  if (!document.is_object()) {
    return invalid_argument("expected a JSON array of messages or an object with \"messages\", got {}",
                            document.type_name());
  }
  const auto messages = document.find("messages");
  if (messages == document.end()) return invalid_argument("the JSON object has no \"messages\" array");
  inputs.messages = *messages;
  if (const auto tools = document.find("tools"); tools != document.end()) inputs.tools = *tools;
  return inputs;
} catch (const std::exception& e) {
  return resource_exhausted("copying the chat request failed: {}", e.what());
}

}  // namespace strata::chat
