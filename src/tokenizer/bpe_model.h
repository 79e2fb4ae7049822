// Byte-level BPE: merges one pre-tokenized piece into tokens by merge rank.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/token_index.h"
#include "tokenizer/vocab.h"

namespace strata::tokenizer {

// Reusable buffers, so a long text does not allocate per piece.
struct BpeScratch {
  struct Symbol {
    TokenId id;    // current token, kNoToken for a byte the vocabulary cannot spell
    int32_t prev;  // linked list over the piece; -1 at the ends
    int32_t next;
    bool alive;
  };
  struct Candidate {
    int32_t rank;
    int32_t left;  // symbol index; the merged token replaces this symbol
    TokenId left_id;
    TokenId right_id;
    TokenId result;
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
  std::string spelled;
};

class BpeModel {
 public:
  // Parses and checks every merge ("left right": both sides and their concatenation must be
  // tokens); errors name the merge's rank and text.
  static Result<BpeModel> create(const Vocab& vocab, const TokenIndex& index, bool ignore_merges);

  // Appends the tokens of one piece of raw text (bytes, any content).
  void encode_piece(std::string_view piece, const TokenIndex& index, std::vector<TokenId>& out,
                    BpeScratch& scratch) const;

  size_t merge_count() const { return merge_count_; }

 private:
  struct MergeSlot {
    uint64_t key;  // left << 32 | right; kEmptyKey when free
    int32_t rank;
    TokenId result;
  };
  static constexpr uint64_t kEmptyKey = ~uint64_t{0};

  const MergeSlot* find_merge(TokenId left, TokenId right) const;
  void insert_merge(TokenId left, TokenId right, int32_t rank, TokenId result);
  void push_candidate(BpeScratch& scratch, int32_t left) const;

  std::array<TokenId, 256> byte_token_{};  // token spelling each single byte
  std::vector<MergeSlot> table_;           // open addressing, power-of-two size
  uint64_t mask_ = 0;
  size_t merge_count_ = 0;
  TokenId unk_ = kNoToken;
  bool ignore_merges_ = false;
};

}  // namespace strata::tokenizer
