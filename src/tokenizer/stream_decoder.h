// Incremental detokenizer for generation: emits only complete UTF-8 characters.
#pragma once

#include <string>

#include "core/status.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8_assembler.h"

namespace strata::tokenizer {

// Feed generated ids one at a time. A token that ends inside a character (byte tokens, or
// byte-level BPE tokens that split an emoji) is held back until the character completes;
// bytes that cannot be completed come out as U+FFFD. Concatenating every push() and the
// final finish() gives valid UTF-8, equal to detokenize() whenever that is valid UTF-8.
class StreamDecoder {
 public:
  explicit StreamDecoder(Tokenizer tokenizer, DetokenizeOptions options = {})
      : tokenizer_(std::move(tokenizer)), options_(options) {}

  // Text that is complete after this token (often empty). Unknown ids are an error and
  // leave the decoder as it was.
  Result<std::string> push(TokenId id);
  // Flushes held bytes (as U+FFFD) and resets for a new sequence.
  std::string finish();

 private:
  Tokenizer tokenizer_;
  DetokenizeOptions options_;
  Utf8Assembler assembler_;
  bool at_start_ = true;  // nothing emitted yet: the SentencePiece prefix space may be dropped
};

}  // namespace strata::tokenizer
