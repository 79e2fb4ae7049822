// Small hand-built vocabularies for the tokenizer unit tests.
#pragma once

#include <string>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/byte_encoding.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

namespace strata::tokenizer::testing {

// Byte-level spelling of raw text ("a b" -> "aĠb").
inline std::string spell(std::string_view raw) {
  std::string out;
  for (char c : raw) out.append(byte_to_utf8(static_cast<uint8_t>(c)));
  return out;
}

inline TokenId id_of(const Vocab& v, std::string_view text) {
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.tokens[i] == text) return static_cast<TokenId>(i);
  }
  return kNoToken;
}

// Byte-level BPE: ids 0..255 are the single bytes (id == byte value), then one token per
// merge result in merge order. Merges are given as raw text pairs.
inline Vocab bpe_vocab(const std::vector<std::pair<std::string, std::string>>& raw_merges, std::string pre = "gpt-2") {
  Vocab v;
  v.kind = VocabKind::kBpe;
  v.pre = std::move(pre);
  v.add_space_prefix = false;
  for (unsigned b = 0; b < 256; ++b) v.tokens.emplace_back(byte_to_utf8(static_cast<uint8_t>(b)));
  for (const auto& [left, right] : raw_merges) {
    v.merges.push_back(spell(left) + " " + spell(right));
    const std::string joined = spell(left + right);
    if (id_of(v, joined) == kNoToken) v.tokens.push_back(joined);
  }
  v.types.assign(v.tokens.size(), TokenType::kNormal);
  return v;
}

// Adds a token of the given type and returns its id.
inline TokenId add_token(Vocab& v, std::string text, TokenType type, float score = 0.0f) {
  v.tokens.push_back(std::move(text));
  if (!v.types.empty() || type != TokenType::kNormal) {
    v.types.resize(v.tokens.size() - 1, TokenType::kNormal);
    v.types.push_back(type);
  }
  if (!v.scores.empty()) v.scores.push_back(score);
  return static_cast<TokenId>(v.tokens.size() - 1);
}

// SentencePiece-style: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF> (when byte_fallback),
// then the given normal pieces with their scores.
inline Vocab spm_vocab(const std::vector<std::pair<std::string, float>>& pieces, bool byte_fallback = true) {
  Vocab v;
  v.kind = VocabKind::kSpm;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
  v.scores = {0, 0, 0};
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  v.add_bos = true;  // what SentencePiece vocabularies do
  if (byte_fallback) {
    static const char* hex = "0123456789ABCDEF";
    for (unsigned b = 0; b < 256; ++b) {
      v.tokens.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
      v.types.push_back(TokenType::kByte);
      v.scores.push_back(0);
    }
  }
  for (const auto& [text, score] : pieces) {
    v.tokens.push_back(text);
    v.types.push_back(TokenType::kNormal);
    v.scores.push_back(score);
  }
  return v;
}

inline Tokenizer make(Vocab v) {
  auto t = Tokenizer::create(std::move(v));
  if (!t.ok()) throw std::runtime_error(t.status().to_string());
  return std::move(t).value();
}

inline std::vector<TokenId> ids(const Tokenizer& t, std::string_view text, TokenizeOptions options = {false, false}) {
  auto r = t.tokenize(text, options);
  if (!r.ok()) throw std::runtime_error(r.status().to_string());
  return std::move(r).value();
}

}  // namespace strata::tokenizer::testing
