// A small model description for the server tests: a byte-level vocabulary (token id = byte
// value for 0-255) with ChatML and <think> tokens, and ChatML templates.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_template.h"
#include "server/model_info.h"
#include "tokenizer/byte_encoding.h"
#include "tokenizer/tokenizer.h"

namespace strata::server::testing {

struct TestVocab {
  static constexpr int32_t kEndOfText = 256;  // <|endoftext|>: BOS and EOS
  static constexpr int32_t kImStart = 257;
  static constexpr int32_t kImEnd = 258;
  static constexpr int32_t kThink = 259;
  static constexpr int32_t kEndThink = 260;
  static constexpr int32_t kHello = 261;     // "Hello" as one token
  static constexpr int32_t kSize = 262;
};

inline tokenizer::Tokenizer make_test_tokenizer() {
  tokenizer::Vocab v;
  v.kind = tokenizer::VocabKind::kBpe;
  v.pre = "gpt-2";
  v.add_space_prefix = false;
  for (unsigned b = 0; b < 256; ++b) {
    v.tokens.emplace_back(tokenizer::byte_to_utf8(static_cast<uint8_t>(b)));
    v.types.push_back(tokenizer::TokenType::kNormal);
  }
  const auto add = [&](std::string text, tokenizer::TokenType type) {
    v.tokens.push_back(std::move(text));
    v.types.push_back(type);
  };
  add("<|endoftext|>", tokenizer::TokenType::kControl);
  add("<|im_start|>", tokenizer::TokenType::kControl);
  add("<|im_end|>", tokenizer::TokenType::kControl);
  add("<think>", tokenizer::TokenType::kUserDefined);
  add("</think>", tokenizer::TokenType::kUserDefined);
  add("Hello", tokenizer::TokenType::kNormal);
  v.bos = TestVocab::kEndOfText;
  v.eos = TestVocab::kEndOfText;
  auto created = tokenizer::Tokenizer::create(std::move(v));
  if (!created.ok()) throw std::runtime_error(created.status().to_string());
  return std::move(created).value();
}

// Token ids of `text` when every byte is its own token.
inline std::vector<int32_t> byte_tokens(std::string_view text) {
  std::vector<int32_t> out;
  for (const char c : text) out.push_back(static_cast<uint8_t>(c));
  return out;
}

inline constexpr std::string_view kChatMl =
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

// DeepSeek-R1 style: the generation prompt opens the think block.
inline constexpr std::string_view kChatMlThinking =
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] or '') + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n<think>\\n' -}}{%- endif -%}";

enum class Reasoning { kNone, kTags, kStartsInThink };

inline ModelInfo make_test_model(Reasoning reasoning = Reasoning::kNone, int32_t n_ctx = 256) {
  ModelInfo info(make_test_tokenizer());
  info.id = "test-model";
  info.created = 1700000000;
  const std::string_view source = reasoning == Reasoning::kStartsInThink ? kChatMlThinking : kChatMl;
  auto parsed = chat::ChatTemplate::parse(source);
  if (!parsed.ok()) throw std::runtime_error(parsed.status().to_string());
  info.chat_template = std::move(parsed).value();
  info.bos_token = "<|endoftext|>";
  info.eos_token = "<|endoftext|>";
  if (reasoning != Reasoning::kNone) info.reasoning = chat::ReasoningSplitOptions{};
  info.n_ctx = n_ctx;
  return info;
}

}  // namespace strata::server::testing
