// Reading the served model's tokenizer, chat template and reasoning tags from its GGUF.
#include "server/model_info.h"

#include <chrono>
#include <filesystem>

#include "gguf/file.h"

namespace strata::server {

namespace {

std::optional<std::string> token_text(const tokenizer::Tokenizer& tok, tokenizer::TokenId id) {
  if (!tok.contains(id)) return std::nullopt;
  auto piece = tok.piece(id, /*render_special=*/true);
  if (!piece.ok()) return std::nullopt;
  return std::string(*piece);
}

}  // namespace

Result<ReasoningFormat> parse_reasoning_format(std::string_view name) {
  if (name == "auto") return ReasoningFormat::kAuto;
  if (name == "none") return ReasoningFormat::kNone;
  if (name == "deepseek") return ReasoningFormat::kDeepSeek;
  return invalid_argument("reasoning format '{}' is unknown; use auto, none or deepseek", name);
}

std::string_view chatml_template() {
  return "{%- for message in messages -%}"
         "{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' -}}"
         "{%- endfor -%}"
         "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";
}

std::optional<chat::ReasoningSplitOptions> reasoning_for_template(std::string_view template_source,
                                                                  ReasoningFormat format) {
  switch (format) {
    case ReasoningFormat::kNone: return std::nullopt;
    case ReasoningFormat::kDeepSeek: return chat::ReasoningSplitOptions{};
    case ReasoningFormat::kAuto:
      if (template_source.find("<think>") != std::string_view::npos) return chat::ReasoningSplitOptions{};
      return std::nullopt;
  }
  return std::nullopt;
}

Result<ModelInfo> load_model_info(const gguf::File& file, const ModelInfoOptions& options) {
  auto tok = tokenizer::Tokenizer::from_gguf(file);
  if (!tok.ok()) return tok.status().with_context("the served model needs its vocabulary");
  ModelInfo info(std::move(tok).value());

  info.id = options.alias;
  if (info.id.empty()) info.id = file.path().filename().string();
  if (info.id.empty()) info.id = "model";
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(file.path(), ec);
  if (!ec) {
    const auto system_time = std::chrono::file_clock::to_sys(mtime);
    info.created = std::chrono::duration_cast<std::chrono::seconds>(system_time.time_since_epoch()).count();
  }

  std::string source;
  if (options.template_source) {
    source = *options.template_source;
  } else if (const gguf::Value* value = file.find("tokenizer.chat_template"); value && value->as_string()) {
    source = *value->as_string();
  } else {
    source = std::string(chatml_template());
  }
  auto parsed = chat::ChatTemplate::parse(source);
  if (!parsed.ok()) {
    return parsed.status().with_context(options.template_source ? "--chat-template-file" : "tokenizer.chat_template");
  }
  info.chat_template = std::move(parsed).value();
  info.bos_token = token_text(info.tokenizer, info.tokenizer.bos());
  info.eos_token = token_text(info.tokenizer, info.tokenizer.eos());
  info.reasoning = reasoning_for_template(source, options.reasoning);
  info.n_ctx = options.n_ctx;
  return info;
}

}  // namespace strata::server
