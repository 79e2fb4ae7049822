// A small byte-level BPE vocabulary (GPT-2 style) built in, so synth models need no vocab file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace strata::model {

// llama.cpp's llama_token_type values, as stored in tokenizer.ggml.token_type.
enum class TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct DemoVocab {
  std::vector<std::string> tokens;   // tokenizer.ggml.tokens
  std::vector<int32_t> token_types;  // tokenizer.ggml.token_type
  std::vector<std::string> merges;   // tokenizer.ggml.merges, "a b" in rank order
  uint32_t bos_id = 0;               // <|begin_of_text|>
  uint32_t eos_id = 0;               // <|end_of_text|>
  uint32_t eot_id = 0;               // <|im_end|>, ends a chat turn
};

// Token ids 0-255 are the bytes (id == byte value) in GPT-2's byte-to-unicode spelling, then
// merged pairs of common English text, then the special tokens, then "[PAD<id>]" tokens up to
// n_vocab. The error names the smallest n_vocab that holds the real tokens.
Result<DemoVocab> make_demo_vocab(uint32_t n_vocab);
uint32_t demo_vocab_min_size();

// GPT-2's printable spelling of a byte ("Ġ" for a space), UTF-8 encoded.
std::string byte_token_text(uint8_t byte);

// A ChatML template over the demo vocabulary's <|im_start|> / <|im_end|> tokens.
std::string_view demo_chat_template();

}  // namespace strata::model
