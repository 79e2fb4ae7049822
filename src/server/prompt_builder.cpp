// Chat templates and tokenization for requests (see prompt_builder.h).
#include "server/prompt_builder.h"

#include <string_view>

namespace strata::server {

namespace {

ApiError context_error(const ModelInfo& model, size_t n_prompt, std::optional<int32_t> max_tokens,
                       std::string_view prompt_field) {
  ApiError e = bad_request(std::string(prompt_field),
                           "this model's context is {} tokens, but the {} take {} tokens{}; shorten the {} or start the "
                           "server with a larger -c",
                           model.n_ctx, prompt_field, n_prompt,
                           max_tokens ? fmt::format(" and max_tokens asks for {} more", *max_tokens) : std::string(),
                           prompt_field);
  e.code = "context_length_exceeded";
  return e;
}

// A prompt must leave room for at least one generated token, and max_tokens alone must fit.
std::optional<ApiError> check_context(const ModelInfo& model, size_t n_prompt, std::optional<int32_t> max_tokens,
                                      std::string_view prompt_field) {
  if (n_prompt == 0) {
    return bad_request(std::string(prompt_field), "the {} give no tokens; send some text", prompt_field);
  }
  if (model.n_ctx <= 0) return std::nullopt;
  if (n_prompt >= static_cast<size_t>(model.n_ctx)) return context_error(model, n_prompt, std::nullopt, prompt_field);
  if (max_tokens && *max_tokens > model.n_ctx) {
    ApiError e = bad_request("max_tokens",
                             "max_tokens is {}, more than this model's context of {} tokens; ask for at most {}",
                             *max_tokens, model.n_ctx, model.n_ctx - static_cast<int32_t>(n_prompt));
    e.code = "context_length_exceeded";
    return e;
  }
  return std::nullopt;
}

// Templates that write {{ bos_token }} and vocabularies that add BOS would start with two.
void drop_double_bos(const ModelInfo& model, std::vector<int32_t>& tokens) {
  const int32_t bos = model.tokenizer.bos();
  if (bos >= 0 && tokens.size() >= 2 && tokens[0] == bos && tokens[1] == bos) tokens.erase(tokens.begin());
}

bool ends_with_open_tag(std::string_view text, std::string_view tag) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return !tag.empty() && text.size() >= tag.size() && text.substr(text.size() - tag.size()) == tag;
}

}  // namespace

ApiResult<Prompt> build_chat_prompt(const ModelInfo& model, const ChatCompletionRequest& request) {
  if (!model.chat_template) {
    ApiError e = bad_request(std::nullopt, "model '{}' has no chat template; use /v1/completions, or start the server "
                                           "with --chat-template-file",
                             model.id);
    return e;
  }
  chat::ChatTemplateInputs inputs;
  inputs.messages = request.messages;
  inputs.tools = request.tools;
  inputs.add_generation_prompt = true;
  inputs.bos_token = model.bos_token;
  inputs.eos_token = model.eos_token;
  inputs.extra_variables = request.template_kwargs;
  auto text = model.chat_template->apply(inputs);
  if (!text.ok()) {
    // Templates reject conversations they cannot format (e.g. roles that do not alternate).
    return bad_request("messages", "the model's chat template cannot format these messages: {}",
                       text.status().message());
  }
  auto tokens = model.tokenizer.tokenize(*text, {.add_special = true, .parse_special = true});
  if (!tokens.ok()) return bad_request("messages", "tokenizing the formatted messages failed: {}", tokens.status().message());
  Prompt prompt;
  prompt.tokens = std::move(tokens).value();
  drop_double_bos(model, prompt.tokens);
  prompt.starts_in_reasoning = model.reasoning && ends_with_open_tag(*text, model.reasoning->open_tag);
  if (auto e = check_context(model, prompt.tokens.size(), request.fields.max_tokens, "messages")) return *e;
  return prompt;
}

ApiResult<Prompt> build_completion_prompt(const ModelInfo& model, const CompletionRequest& request) {
  Prompt prompt;
  if (const auto* text = std::get_if<std::string>(&request.prompt)) {
    auto tokens = model.tokenizer.tokenize(*text, {.add_special = true, .parse_special = true});
    if (!tokens.ok()) return bad_request("prompt", "tokenizing the prompt failed: {}", tokens.status().message());
    prompt.tokens = std::move(tokens).value();
  } else {
    prompt.tokens = std::get<std::vector<int32_t>>(request.prompt);
  }
  if (auto e = check_context(model, prompt.tokens.size(), request.fields.max_tokens, "prompt")) return *e;
  return prompt;
}

}  // namespace strata::server
