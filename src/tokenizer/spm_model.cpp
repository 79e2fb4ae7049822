// SpmModel: the highest-scoring adjacent pair merges first (leftmost among equals); what
// remains unknown is spelled with byte tokens, or the unknown token without them.
#include "tokenizer/spm_model.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "core/utf8.h"

namespace strata::tokenizer {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space
constexpr size_t kWordCacheMinText = 4096;

bool lower_priority(const SpmScratch::Candidate& a, const SpmScratch::Candidate& b) {
  return a.score != b.score ? a.score < b.score : a.left > b.left;
}

// True when `text` has U+2581 right after a character other than U+2581.
bool has_inner_space(std::string_view text) {
  for (size_t pos = text.find(kSpace, 1); pos != std::string_view::npos; pos = text.find(kSpace, pos + 1)) {
    if (pos < kSpace.size() || text.substr(pos - kSpace.size(), kSpace.size()) != kSpace) return true;
  }
  return false;
}

}  // namespace

Result<SpmModel> SpmModel::create(const Vocab& vocab, const TokenIndex& index) {
  SpmModel model;
  model.unk_ = vocab.unk;
  model.scores_ = vocab.scores;
  if (model.scores_.empty()) model.scores_.assign(vocab.size(), 0.0f);
  model.mergeable_.resize(vocab.size());
  for (size_t i = 0; i < vocab.size(); ++i) {
    const TokenType type = vocab.type_of(static_cast<TokenId>(i));
    model.mergeable_[i] = type != TokenType::kControl && type != TokenType::kUnknown && type != TokenType::kByte;
  }
  model.split_at_spaces_ = true;
  for (size_t i = 0; i < vocab.size() && model.split_at_spaces_; ++i) {
    if (model.mergeable_[i] && has_inner_space(vocab.tokens[i])) model.split_at_spaces_ = false;
  }
  for (unsigned b = 0; b < 256; ++b) {
    const TokenId id = index.find(fmt::format("<0x{:02X}>", b));
    model.byte_token_[b] = id;
    if (id != kNoToken) model.has_byte_fallback_ = true;
  }
  return model;
}

void SpmModel::push_candidate(std::string_view text, const TokenIndex& index, SpmScratch& s, int32_t left) const {
  if (left < 0) return;
  const int32_t right = s.symbols[left].next;
  if (right < 0) return;
  const uint32_t length = s.symbols[left].length + s.symbols[right].length;
  const TokenId id = index.find(text.substr(s.symbols[left].start, length));
  if (!mergeable(id)) return;
  s.heap.push_back({scores_[static_cast<size_t>(id)], left, right, length, id});
  std::push_heap(s.heap.begin(), s.heap.end(), lower_priority);
}

void SpmModel::encode(std::string_view text, const TokenIndex& index, std::vector<TokenId>& out,
                      SpmScratch& s) const {
  if (!split_at_spaces_) {
    encode_segment(text, index, out, s);
    return;
  }
  // Long texts repeat words: reuse each word's tokens (a range of `out`) within this call.
  const bool use_cache = text.size() >= kWordCacheMinText;
  std::unordered_map<std::string_view, std::pair<size_t, size_t>> cache;
  auto encode_word = [&](std::string_view word) {
    if (!use_cache) {
      encode_segment(word, index, out, s);
      return;
    }
    const auto [it, inserted] = cache.try_emplace(word, out.size(), 0);
    if (inserted) {
      encode_segment(word, index, out, s);
      it->second.second = out.size() - it->second.first;
    } else {
      for (size_t i = 0; i < it->second.second; ++i) out.push_back(out[it->second.first + i]);
    }
  };
  size_t word_start = 0;
  for (size_t pos = text.find(kSpace, 1); pos != std::string_view::npos; pos = text.find(kSpace, pos + 1)) {
    const bool after_space = pos >= kSpace.size() && text.substr(pos - kSpace.size(), kSpace.size()) == kSpace;
    if (after_space || pos == word_start) continue;
    encode_word(text.substr(word_start, pos - word_start));
    word_start = pos;
  }
  encode_word(text.substr(word_start));
}

void SpmModel::encode_segment(std::string_view text, const TokenIndex& index, std::vector<TokenId>& out,
                              SpmScratch& s) const {
  if (text.empty()) return;
  s.symbols.clear();
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = std::min(utf8_lead_length(static_cast<uint8_t>(text[pos])), text.size() - pos);
    const auto index_now = static_cast<int32_t>(s.symbols.size());
    s.symbols.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(length), index_now - 1, index_now + 1});
    pos += length;
  }
  s.symbols.back().next = -1;

  s.heap.clear();
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(s.symbols.size()); ++i) push_candidate(text, index, s, i);

  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), lower_priority);
    const SpmScratch::Candidate c = s.heap.back();
    s.heap.pop_back();
    SpmScratch::Symbol& left = s.symbols[c.left];
    SpmScratch::Symbol& right = s.symbols[c.right];
    if (left.length == 0 || right.length == 0 || left.length + right.length != c.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) s.symbols[right.next].prev = c.left;
    push_candidate(text, index, s, left.prev);
    push_candidate(text, index, s, c.left);
  }

  for (int32_t i = 0; i >= 0; i = s.symbols[i].next) {
    const SpmScratch::Symbol& symbol = s.symbols[i];
    const std::string_view piece = text.substr(symbol.start, symbol.length);
    const TokenId id = index.find(piece);
    if (mergeable(id)) {
      out.push_back(id);
      continue;
    }
    // Only single characters can be unknown here: every merge produced a known token.
    const bool all_bytes = std::all_of(piece.begin(), piece.end(),
                                       [&](char c) { return byte_token_[static_cast<uint8_t>(c)] != kNoToken; });
    if (all_bytes) {
      for (char c : piece) out.push_back(byte_token_[static_cast<uint8_t>(c)]);
    } else if (unk_ != kNoToken) {
      out.push_back(unk_);
    }
  }
}

}  // namespace strata::tokenizer
