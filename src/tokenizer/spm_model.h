// SentencePiece-style BPE: merges adjacent pieces by token score, falls back to <0xNN> bytes.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/token_index.h"
#include "tokenizer/vocab.h"

namespace strata::tokenizer {

struct SpmScratch {
  struct Symbol {
    uint32_t start;  // byte span in the text; merged symbols stay contiguous
    uint32_t length;  // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    float score;
    int32_t left;
    int32_t right;
    uint32_t length;  // left + right length when queued; a mismatch means it is stale
    TokenId result;
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
};

class SpmModel {
 public:
  static Result<SpmModel> create(const Vocab& vocab, const TokenIndex& index);

  // Appends the tokens of `text`, whose spaces are already U+2581 (and which already carries
  // the space prefix when the vocabulary wants one). `text` must be valid UTF-8.
  void encode(std::string_view text, const TokenIndex& index, std::vector<TokenId>& out, SpmScratch& scratch) const;

  bool has_byte_fallback() const { return has_byte_fallback_; }
  bool merges_within_words() const { return split_at_spaces_; }

 private:
  // Control, unknown and byte tokens are never the result of merging text.
  bool mergeable(TokenId id) const { return id != kNoToken && mergeable_[static_cast<size_t>(id)]; }
  void push_candidate(std::string_view text, const TokenIndex& index, SpmScratch& s, int32_t left) const;
  void encode_segment(std::string_view text, const TokenIndex& index, std::vector<TokenId>& out,
                      SpmScratch& scratch) const;

  std::vector<float> scores_;
  std::vector<bool> mergeable_;
  std::array<TokenId, 256> byte_token_{};  // <0xNN>, kNoToken when the vocabulary lacks it
  bool has_byte_fallback_ = false;
  // No mergeable token has U+2581 after another character, so no merge can cross the start
  // of a word ("▁" after a non-"▁"): words merge independently, with the same result as
  // merging the whole text at once, but with small heaps.
  bool split_at_spaces_ = false;
  TokenId unk_ = kNoToken;
};

}  // namespace strata::tokenizer
