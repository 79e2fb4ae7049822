// Finds special-token texts (control, user-defined, unknown) in input text.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace strata::tokenizer {

// A stretch of input: either a special token found in it, or text to tokenize normally.
struct Fragment {
  TokenId token = kNoToken;  // kNoToken: a text fragment
  std::string_view text;     // the text (for tokens, the matched text)
};

class SpecialTokens {
 public:
  explicit SpecialTokens(const Vocab& vocab);

  // Splits `text` at special tokens, leftmost match first and the longest at a position.
  // With parse_special off only user-defined tokens are recognised (they are part of the
  // vocabulary's normal spelling, as in Hugging Face tokenizers); control and unknown token
  // texts are then ordinary text.
  void partition(std::string_view text, bool parse_special, std::vector<Fragment>& out) const;

  size_t size() const { return count_; }

 private:
  // A byte trie over the token texts (thousands in some vocabularies, e.g. DeepSeek's
  // [PAD…] tokens), so a position costs one step per matching byte, not one compare per token.
  struct Node {
    uint32_t first_edge = 0;  // edges_[first_edge, first_edge + edge_count), sorted by byte
    uint32_t edge_count = 0;
    TokenId id = kNoToken;  // a token ends here
    bool user_defined = false;
  };
  struct Edge {
    uint8_t byte;
    uint32_t node;
  };

  // Length of the longest token starting at text[pos] (0 if none) and its id.
  size_t longest_match(std::string_view text, size_t pos, bool parse_special, TokenId* id) const;

  std::vector<Node> nodes_;  // nodes_[0] is the root
  std::vector<Edge> edges_;
  std::array<uint32_t, 256> root_child_{};  // 0: no token starts with this byte
  size_t count_ = 0;
  bool has_user_defined_ = false;
};

}  // namespace strata::tokenizer
