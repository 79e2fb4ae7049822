// Fuzzes the HTTP request parsers: arbitrary bytes as the body of a chat completion,
// completion, tokenize and detokenize request; accepted chat and completion requests then go
// through a ChatML template and a byte-level tokenizer, and every error is serialized.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "server/openai_response.h"
#include "server/openai_schema.h"
#include "server/prompt_builder.h"
#include "tokenizer/byte_encoding.h"

namespace {

using namespace strata;

const server::ModelInfo& model() {
  static const server::ModelInfo info = [] {
    tokenizer::Vocab v;
    v.kind = tokenizer::VocabKind::kBpe;
    v.pre = "gpt-2";
    v.add_space_prefix = false;
    for (unsigned b = 0; b < 256; ++b) v.tokens.emplace_back(tokenizer::byte_to_utf8(static_cast<uint8_t>(b)));
    v.types.assign(256, tokenizer::TokenType::kNormal);
    for (const char* special : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
      v.tokens.emplace_back(special);
      v.types.push_back(tokenizer::TokenType::kControl);
    }
    v.bos = 256;
    v.eos = 256;
    auto tok = tokenizer::Tokenizer::create(std::move(v));
    if (!tok.ok()) throw std::runtime_error(tok.status().to_string());
    server::ModelInfo m(std::move(tok).value());
    auto tmpl = chat::ChatTemplate::parse(server::chatml_template());
    if (!tmpl.ok()) throw std::runtime_error(tmpl.status().to_string());
    m.chat_template = std::move(tmpl).value();
    m.bos_token = "<|endoftext|>";
    m.eos_token = "<|endoftext|>";
    m.n_ctx = 4096;
    return m;
  }();
  return info;
}

// Errors must always serialize to valid JSON, whatever bytes their messages quote.
void check_error(const server::ApiError& e) {
  if (e.http_status < 400 || e.http_status > 599) __builtin_trap();
  if (!nlohmann::json::accept(e.body())) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const server::ModelInfo& m = model();
  const server::RequestLimits limits{static_cast<int32_t>(m.tokenizer.size()), m.n_ctx};

  auto chat = server::parse_chat_completion_request(body, limits);
  if (chat.ok()) {
    auto prompt = server::build_chat_prompt(m, chat.value());
    if (!prompt.ok()) check_error(prompt.error());
  } else {
    check_error(chat.error());
  }

  auto completion = server::parse_completion_request(body, limits);
  if (completion.ok()) {
    auto prompt = server::build_completion_prompt(m, completion.value());
    if (!prompt.ok()) check_error(prompt.error());
  } else {
    check_error(completion.error());
  }

  auto tokenize = server::parse_tokenize_request(body);
  if (!tokenize.ok()) check_error(tokenize.error());
  auto detokenize = server::parse_detokenize_request(body, limits);
  if (!detokenize.ok()) check_error(detokenize.error());
  return 0;
}
