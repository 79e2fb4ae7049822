// BpeModel: merge table and the rank-ordered merge loop (a heap over a linked list of
// symbols, O(n log n) per piece), lowest rank first, leftmost first among equal ranks.
#include "tokenizer/bpe_model.h"

#include <algorithm>

#include "tokenizer/byte_encoding.h"

namespace strata::tokenizer {
namespace {

uint64_t pair_key(TokenId left, TokenId right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

uint64_t slot_of(uint64_t key, uint64_t mask) {
  return ((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

// Heap order: the top is the lowest rank, then the leftmost position.
bool lower_priority(const BpeScratch::Candidate& a, const BpeScratch::Candidate& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
}

}  // namespace

const BpeModel::MergeSlot* BpeModel::find_merge(TokenId left, TokenId right) const {
  const uint64_t key = pair_key(left, right);
  for (uint64_t i = slot_of(key, mask_);; i = (i + 1) & mask_) {
    const MergeSlot& slot = table_[i];
    if (slot.key == key) return &slot;
    if (slot.key == kEmptyKey) return nullptr;
  }
}

void BpeModel::insert_merge(TokenId left, TokenId right, int32_t rank, TokenId result) {
  const uint64_t key = pair_key(left, right);
  for (uint64_t i = slot_of(key, mask_);; i = (i + 1) & mask_) {
    MergeSlot& slot = table_[i];
    if (slot.key == key) return;  // a repeated merge keeps its first (lowest) rank
    if (slot.key == kEmptyKey) {
      slot = {key, rank, result};
      ++merge_count_;
      return;
    }
  }
}

Result<BpeModel> BpeModel::create(const Vocab& vocab, const TokenIndex& index, bool ignore_merges) {
  BpeModel model;
  model.ignore_merges_ = ignore_merges;
  model.unk_ = vocab.unk;
  for (unsigned b = 0; b < 256; ++b) model.byte_token_[b] = index.find(byte_to_utf8(static_cast<uint8_t>(b)));

  uint64_t capacity = 16;
  while (capacity < vocab.merges.size() * 2) capacity *= 2;
  model.table_.assign(capacity, MergeSlot{kEmptyKey, 0, kNoToken});
  model.mask_ = capacity - 1;

  std::string joined;
  for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
    const std::string& merge = vocab.merges[rank];
    // The separator is the first space after the first character: a token may itself be a
    // space in vocabularies that do not byte-encode, but never starts a merge with one.
    const size_t space = merge.find(' ', 1);
    if (space == std::string::npos || space + 1 >= merge.size()) {
      return corrupt("tokenizer.ggml.merges[{}] = '{}' is malformed; expected two tokens separated by one space",
                     rank, merge);
    }
    const std::string_view left_text(merge.data(), space);
    const std::string_view right_text(merge.data() + space + 1, merge.size() - space - 1);
    const TokenId left = index.find(left_text);
    const TokenId right = index.find(right_text);
    if (left == kNoToken || right == kNoToken) {
      return corrupt("tokenizer.ggml.merges[{}] = '{}' refers to '{}', which is not in tokenizer.ggml.tokens",
                     rank, merge, left == kNoToken ? left_text : right_text);
    }
    joined.assign(left_text);
    joined.append(right_text);
    const TokenId result = index.find(joined);
    if (result == kNoToken) {
      return corrupt("tokenizer.ggml.merges[{}] = '{}' produces '{}', which is not in tokenizer.ggml.tokens", rank,
                     merge, joined);
    }
    model.insert_merge(left, right, static_cast<int32_t>(rank), result);
  }
  return model;
}

void BpeModel::push_candidate(BpeScratch& s, int32_t left) const {
  if (left < 0) return;
  const int32_t right = s.symbols[left].next;
  if (right < 0) return;
  const TokenId left_id = s.symbols[left].id;
  const TokenId right_id = s.symbols[right].id;
  if (left_id == kNoToken || right_id == kNoToken) return;
  const MergeSlot* merge = find_merge(left_id, right_id);
  if (merge == nullptr) return;
  s.heap.push_back({merge->rank, left, left_id, right_id, merge->result});
  std::push_heap(s.heap.begin(), s.heap.end(), lower_priority);
}

void BpeModel::encode_piece(std::string_view piece, const TokenIndex& index, std::vector<TokenId>& out,
                            BpeScratch& s) const {
  if (piece.empty()) return;
  if (piece.size() == 1) {
    const TokenId id = byte_token_[static_cast<uint8_t>(piece[0])];
    if (id != kNoToken) {
      out.push_back(id);
    } else if (unk_ != kNoToken) {
      out.push_back(unk_);
    }
    return;
  }
  if (ignore_merges_) {
    s.spelled.clear();
    for (char c : piece) s.spelled.append(byte_to_utf8(static_cast<uint8_t>(c)));
    const TokenId whole = index.find(s.spelled);
    if (whole != kNoToken) {
      out.push_back(whole);
      return;
    }
  }

  const auto n = static_cast<int32_t>(piece.size());
  s.symbols.resize(piece.size());
  for (int32_t i = 0; i < n; ++i) {
    s.symbols[i] = {byte_token_[static_cast<uint8_t>(piece[i])], i - 1, i + 1 < n ? i + 1 : -1, true};
  }
  s.heap.clear();
  for (int32_t i = 0; i + 1 < n; ++i) push_candidate(s, i);

  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), lower_priority);
    const BpeScratch::Candidate c = s.heap.back();
    s.heap.pop_back();
    BpeScratch::Symbol& left = s.symbols[c.left];
    // Stale when either side has merged with something else since this was queued.
    if (!left.alive || left.id != c.left_id || left.next < 0) continue;
    BpeScratch::Symbol& right = s.symbols[left.next];
    if (right.id != c.right_id) continue;
    left.id = c.result;
    left.next = right.next;
    if (right.next >= 0) s.symbols[right.next].prev = c.left;
    right.alive = false;
    push_candidate(s, left.prev);
    push_candidate(s, c.left);
  }

  // Symbol 0 always survives: merges keep the left symbol.
  for (int32_t i = 0; i >= 0; i = s.symbols[i].next) {
    const TokenId id = s.symbols[i].id;
    if (id != kNoToken) {
      out.push_back(id);
    } else if (unk_ != kNoToken) {
      out.push_back(unk_);
    }
  }
}

}  // namespace strata::tokenizer
