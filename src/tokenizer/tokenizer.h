// Text <-> token ids for a GGUF vocabulary: byte-level BPE ("gpt2") or SentencePiece ("llama").
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/vocab.h"

namespace strata::gguf {
class File;
}

namespace strata::tokenizer {

struct TokenizeOptions {
  bool add_special = true;     // BOS / EOS as the vocabulary's add_bos / add_eos flags say
  bool parse_special = false;  // control and unknown token texts in the input become those tokens
};

struct DetokenizeOptions {
  bool render_special = false;      // control, unknown and unused tokens print their text
  bool strip_leading_space = true;  // SentencePiece: drop the space that tokenizing prefixed
};

// Immutable after creation; copies share the same tables and may be used from any thread.
class Tokenizer {
 public:
  // Validates the vocabulary (ids, sizes, merges, pre-tokenizer) and builds the lookup tables.
  static Result<Tokenizer> create(Vocab vocab);
  // Reads tokenizer.ggml.* from a GGUF file (see gguf_vocab.h) and creates the tokenizer.
  static Result<Tokenizer> from_gguf(const gguf::File& file);

  // Input must be valid UTF-8 (see sanitize_utf8 in utf8.h to replace bad bytes first).
  Result<std::vector<TokenId>> tokenize(std::string_view text, const TokenizeOptions& options = {}) const;

  // The bytes the tokens stand for. A byte token may leave half a UTF-8 character, so the
  // result is not always valid UTF-8 (StreamDecoder always is). Unknown ids are an error.
  Result<std::string> detokenize(std::span<const TokenId> ids, const DetokenizeOptions& options = {}) const;

  // What one token decodes to; empty for control, unknown and unused tokens unless rendered.
  Result<std::string_view> piece(TokenId id, bool render_special = false) const;

  const Vocab& vocab() const;
  size_t size() const { return vocab().size(); }
  bool contains(TokenId id) const { return id >= 0 && static_cast<size_t>(id) < size(); }
  TokenType type(TokenId id) const { return vocab().type_of(id); }  // id must be in range
  TokenId bos() const { return vocab().bos; }
  TokenId eos() const { return vocab().eos; }
  // Empty for SentencePiece vocabularies.
  std::string_view pre_tokenizer_name() const;

 private:
  struct State;
  explicit Tokenizer(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;
};

}  // namespace strata::tokenizer
