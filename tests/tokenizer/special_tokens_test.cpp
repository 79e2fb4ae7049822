// Special tokens in input text: parse_special, user-defined tokens, longest-match rules.
#include <gtest/gtest.h>

#include "tiny_vocab.h"
#include "tokenizer/tokenizer.h"

namespace strata::tokenizer {
namespace {

using testing::add_token;
using testing::bpe_vocab;
using testing::ids;
using testing::make;

struct Specials {
  Vocab vocab = bpe_vocab({});
  TokenId end = add_token(vocab, "<|end|>", TokenType::kControl);
  TokenId tool = add_token(vocab, "<tool>", TokenType::kUserDefined);
  TokenId im = add_token(vocab, "<|im|>", TokenType::kControl);
  TokenId im_start = add_token(vocab, "<|im|><|start|>", TokenType::kControl);
};

std::vector<TokenId> bytes_of(std::string_view text) {
  std::vector<TokenId> out;
  for (char c : text) out.push_back(static_cast<uint8_t>(c));
  return out;
}

TEST(SpecialTokens, ControlTextIsOrdinaryTextUnlessParseSpecial) {
  Specials s;
  const Tokenizer t = make(s.vocab);
  const auto plain = ids(t, "a<|end|>", {.add_special = false, .parse_special = false});
  EXPECT_EQ(std::count(plain.begin(), plain.end(), s.end), 0);
  EXPECT_EQ(*t.detokenize(plain), "a<|end|>");
  EXPECT_EQ(ids(t, "a<|end|>", {.add_special = false, .parse_special = true}),
            (std::vector<TokenId>{'a', s.end}));
}

TEST(SpecialTokens, UserDefinedTokensAreAlwaysRecognised) {
  Specials s;
  const Tokenizer t = make(s.vocab);
  for (bool parse : {false, true}) {
    EXPECT_EQ(ids(t, "x<tool>y", {.add_special = false, .parse_special = parse}),
              (std::vector<TokenId>{'x', s.tool, 'y'}));
  }
}

TEST(SpecialTokens, LongestMatchWinsAtAPosition) {
  Specials s;
  const Tokenizer t = make(s.vocab);
  EXPECT_EQ(ids(t, "<|im|><|start|>", {.add_special = false, .parse_special = true}),
            std::vector<TokenId>{s.im_start});
  EXPECT_EQ(ids(t, "<|im|><|stop|>", {.add_special = false, .parse_special = true})[0], s.im);
}

TEST(SpecialTokens, LeftmostMatchWinsOverALongerLaterOne) {
  Vocab v = bpe_vocab({});
  const TokenId ab = add_token(v, "ab", TokenType::kControl);
  add_token(v, "bcd", TokenType::kControl);
  const Tokenizer t = make(v);
  std::vector<TokenId> expected{ab};
  for (TokenId id : bytes_of("cd")) expected.push_back(id);
  EXPECT_EQ(ids(t, "abcd", {.add_special = false, .parse_special = true}), expected);
}

TEST(SpecialTokens, DetokenizeHidesControlTokensUnlessRendered) {
  Specials s;
  const Tokenizer t = make(s.vocab);
  const std::vector<TokenId> tokens{'a', s.end, s.tool, 'b'};
  EXPECT_EQ(*t.detokenize(tokens), "a<tool>b");
  EXPECT_EQ(*t.detokenize(tokens, {.render_special = true}), "a<|end|><tool>b");
}

TEST(SpecialTokens, SpmPrefixesASpaceAfterASpecialToken) {
  Vocab v = testing::spm_vocab({{"▁", -5}, {"a", -1}, {"▁a", -1}});
  const Tokenizer t = make(v);
  const TokenId a = testing::id_of(v, "▁a");
  EXPECT_EQ(ids(t, "a</s>a", {.add_special = true, .parse_special = true}), (std::vector<TokenId>{1, a, 2, a}));
}

}  // namespace
}  // namespace strata::tokenizer
