// A tokenizer vocabulary as GGUF stores it (tokenizer.ggml.*), independent of the file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace strata::tokenizer {

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

// tokenizer.ggml.token_type values.
enum class TokenType : uint8_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

std::string_view token_type_name(TokenType type);

enum class VocabKind {
  kBpe,  // tokenizer.ggml.model "gpt2": byte-level BPE with a regex pre-tokenizer
  kSpm,  // tokenizer.ggml.model "llama": SentencePiece-style, score-ordered merges
};

std::string_view vocab_kind_name(VocabKind kind);  // "gpt2" or "llama"

struct Vocab {
  VocabKind kind = VocabKind::kSpm;
  std::string pre;                  // tokenizer.ggml.pre; "" means "default"
  std::vector<std::string> tokens;  // tokenizer.ggml.tokens: id -> text
  std::vector<float> scores;        // empty, or one per token (SPM merge priority)
  std::vector<TokenType> types;     // empty (all normal), or one per token
  std::vector<std::string> merges;  // BPE: "left right", rank = position (SPM ignores them)

  TokenId bos = kNoToken;
  TokenId eos = kNoToken;
  TokenId unk = kNoToken;
  TokenId pad = kNoToken;
  TokenId sep = kNoToken;

  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = true;           // SPM: text gets a leading space ("▁")
  bool remove_extra_whitespaces = false;  // SPM: collapse runs of spaces, trim the ends

  TokenType type_of(TokenId id) const {
    return types.empty() ? TokenType::kNormal : types[static_cast<size_t>(id)];
  }
  size_t size() const { return tokens.size(); }
};

// Checks sizes, id ranges, types and flags (not merges: those need the token index, see
// BpeModel). Errors say which field, the value seen and what would be valid.
Status validate_vocab(const Vocab& vocab);

}  // namespace strata::tokenizer
