// SpecialTokens: a byte trie built once per vocabulary; ordinary text costs one table check
// per byte.
#include "tokenizer/special_tokens.h"

#include <algorithm>
#include <map>

#include "core/utf8.h"

namespace strata::tokenizer {

SpecialTokens::SpecialTokens(const Vocab& vocab) {
  // Built with maps for simplicity, then flattened into sorted edge arrays for lookups.
  std::vector<std::map<uint8_t, uint32_t>> children(1);
  nodes_.emplace_back();
  for (size_t i = 0; i < vocab.size(); ++i) {
    const auto id = static_cast<TokenId>(i);
    const TokenType type = vocab.type_of(id);
    const bool special = type == TokenType::kControl || type == TokenType::kUserDefined || type == TokenType::kUnknown;
    const std::string& text = vocab.tokens[i];
    if (!special || text.empty()) continue;
    // A text that is not UTF-8 could match inside a character and leave broken text around
    // it; no valid input spells such a token anyway.
    if (find_invalid_utf8(text)) continue;
    uint32_t node = 0;
    for (char c : text) {
      const auto byte = static_cast<uint8_t>(c);
      auto [it, inserted] = children[node].try_emplace(byte, static_cast<uint32_t>(nodes_.size()));
      if (inserted) {
        nodes_.emplace_back();
        children.emplace_back();
      }
      node = it->second;
    }
    nodes_[node].id = id;  // texts are unique (TokenIndex checked), so no overwrite
    nodes_[node].user_defined = type == TokenType::kUserDefined;
    has_user_defined_ = has_user_defined_ || nodes_[node].user_defined;
    ++count_;
  }
  for (size_t n = 0; n < nodes_.size(); ++n) {
    nodes_[n].first_edge = static_cast<uint32_t>(edges_.size());
    nodes_[n].edge_count = static_cast<uint32_t>(children[n].size());
    for (const auto& [byte, child] : children[n]) edges_.push_back({byte, child});
  }
  for (const auto& [byte, child] : children[0]) root_child_[byte] = child;
}

size_t SpecialTokens::longest_match(std::string_view text, size_t pos, bool parse_special, TokenId* id) const {
  uint32_t node = root_child_[static_cast<uint8_t>(text[pos])];
  size_t best = 0;
  size_t length = 1;
  while (node != 0) {
    const Node& n = nodes_[node];
    if (n.id != kNoToken && (parse_special || n.user_defined)) {
      best = length;
      *id = n.id;
    }
    if (pos + length >= text.size() || n.edge_count == 0) break;
    const auto byte = static_cast<uint8_t>(text[pos + length]);
    const Edge* begin = edges_.data() + n.first_edge;
    const Edge* end = begin + n.edge_count;
    const Edge* edge = std::lower_bound(begin, end, byte, [](const Edge& e, uint8_t b) { return e.byte < b; });
    if (edge == end || edge->byte != byte) break;
    node = edge->node;
    ++length;
  }
  return best;
}

void SpecialTokens::partition(std::string_view text, bool parse_special, std::vector<Fragment>& out) const {
  if (text.empty()) return;
  if (count_ == 0 || (!parse_special && !has_user_defined_)) {
    out.push_back({kNoToken, text});
    return;
  }
  size_t text_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    TokenId id = kNoToken;
    const size_t length = root_child_[static_cast<uint8_t>(text[pos])] == 0
                              ? 0
                              : longest_match(text, pos, parse_special, &id);
    if (length == 0) {
      ++pos;
      continue;
    }
    if (pos > text_start) out.push_back({kNoToken, text.substr(text_start, pos - text_start)});
    out.push_back({id, text.substr(pos, length)});
    pos += length;
    text_start = pos;
  }
  if (text_start < text.size()) out.push_back({kNoToken, text.substr(text_start)});
}

}  // namespace strata::tokenizer
