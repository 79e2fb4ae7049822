// Vocabulary names and structural validation.
#include "tokenizer/vocab.h"

#include <limits>

namespace strata::tokenizer {

std::string_view token_type_name(TokenType type) {
  switch (type) {
    case TokenType::kUndefined: return "undefined";
    case TokenType::kNormal: return "normal";
    case TokenType::kUnknown: return "unknown";
    case TokenType::kControl: return "control";
    case TokenType::kUserDefined: return "user-defined";
    case TokenType::kUnused: return "unused";
    case TokenType::kByte: return "byte";
  }
  return "?";
}

std::string_view vocab_kind_name(VocabKind kind) { return kind == VocabKind::kBpe ? "gpt2" : "llama"; }

Status validate_vocab(const Vocab& vocab) {
  const size_t n = vocab.tokens.size();
  if (n == 0) return corrupt("tokenizer.ggml.tokens is empty; a vocabulary needs at least one token");
  if (n > static_cast<size_t>(std::numeric_limits<TokenId>::max())) {
    return corrupt("tokenizer.ggml.tokens has {} entries; at most {} are supported", n,
                   std::numeric_limits<TokenId>::max());
  }
  if (!vocab.scores.empty() && vocab.scores.size() != n) {
    return corrupt("tokenizer.ggml.scores has {} entries but there are {} tokens; expected one score per token",
                   vocab.scores.size(), n);
  }
  if (!vocab.types.empty() && vocab.types.size() != n) {
    return corrupt("tokenizer.ggml.token_type has {} entries but there are {} tokens; expected one type per token",
                   vocab.types.size(), n);
  }
  for (size_t i = 0; i < vocab.types.size(); ++i) {
    if (static_cast<uint8_t>(vocab.types[i]) > static_cast<uint8_t>(TokenType::kByte)) {
      return corrupt("tokenizer.ggml.token_type[{}] = {}; expected 0..6 (1 normal, 2 unknown, 3 control, "
                     "4 user-defined, 5 unused, 6 byte)",
                     i, static_cast<int>(vocab.types[i]));
    }
  }
  const struct {
    const char* key;
    TokenId id;
  } specials[] = {
      {"tokenizer.ggml.bos_token_id", vocab.bos},     {"tokenizer.ggml.eos_token_id", vocab.eos},
      {"tokenizer.ggml.unknown_token_id", vocab.unk}, {"tokenizer.ggml.padding_token_id", vocab.pad},
      {"tokenizer.ggml.seperator_token_id", vocab.sep},
  };
  for (const auto& s : specials) {
    if (s.id != kNoToken && (s.id < 0 || static_cast<size_t>(s.id) >= n)) {
      return corrupt("{} = {} is outside the vocabulary of {} tokens (valid ids: 0..{})", s.key, s.id, n, n - 1);
    }
  }
  if (vocab.add_bos && vocab.bos == kNoToken) {
    return corrupt("tokenizer.ggml.add_bos_token is true but there is no tokenizer.ggml.bos_token_id");
  }
  if (vocab.add_eos && vocab.eos == kNoToken) {
    return corrupt("tokenizer.ggml.add_eos_token is true but there is no tokenizer.ggml.eos_token_id");
  }
  return {};
}

}  // namespace strata::tokenizer
