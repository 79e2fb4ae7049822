// Byte-level BPE on tiny vocabularies: merge order, piece boundaries, merge validation.
#include <gtest/gtest.h>

#include "tiny_vocab.h"
#include "tokenizer/tokenizer.h"

namespace strata::tokenizer {
namespace {

using testing::bpe_vocab;
using testing::id_of;
using testing::ids;
using testing::make;
using testing::spell;

TEST(Bpe, LowerRankMergesFirstWhereverItIs) {
  // "b c" has the best rank, so "abc" becomes a + bc, then abc; never ab + c.
  Vocab v = bpe_vocab({{"b", "c"}, {"a", "b"}, {"a", "bc"}});
  const TokenId abc = id_of(v, "abc");
  EXPECT_EQ(ids(make(v), "abc"), std::vector<TokenId>{abc});

  Vocab w = bpe_vocab({{"a", "b"}, {"b", "c"}, {"a", "bc"}});
  EXPECT_EQ(ids(make(w), "abc"), (std::vector<TokenId>{id_of(w, "ab"), 'c'}));
}

TEST(Bpe, EqualPairsMergeLeftmostFirst) {
  Vocab v = bpe_vocab({{"a", "a"}});
  const TokenId aa = id_of(v, "aa");
  EXPECT_EQ(ids(make(v), "aaa"), (std::vector<TokenId>{aa, 'a'}));
  EXPECT_EQ(ids(make(v), "aaaa"), (std::vector<TokenId>{aa, aa}));
  EXPECT_EQ(ids(make(v), "aaaaa"), (std::vector<TokenId>{aa, aa, 'a'}));
}

TEST(Bpe, ChainsOfMergesBuildLongTokens) {
  Vocab v = bpe_vocab({{"l", "o"}, {"lo", "w"}, {"low", "e"}, {"lowe", "r"}, {" ", "low"}});
  const Tokenizer t = make(v);
  EXPECT_EQ(ids(t, "lower"), std::vector<TokenId>{id_of(v, "lower")});
  // The GPT-2 pattern keeps the space with the word: " low" is one piece.
  EXPECT_EQ(ids(t, "lower low"), (std::vector<TokenId>{id_of(v, "lower"), id_of(v, spell(" low"))}));
}

TEST(Bpe, MergesNeverCrossPreTokenizerPieces) {
  // "a!" would merge if it were one piece, but letters and punctuation are split first.
  Vocab v = bpe_vocab({{"a", "!"}});
  EXPECT_EQ(ids(make(v), "a!"), (std::vector<TokenId>{'a', '!'}));
}

TEST(Bpe, EveryByteHasAToken) {
  const Tokenizer t = make(bpe_vocab({}));
  const std::string text = "\t\n \x7F\xC2\xA0\xF0\x9F\x98\x80";
  std::vector<TokenId> expected;
  for (char c : text) expected.push_back(static_cast<uint8_t>(c));
  EXPECT_EQ(ids(t, text), expected);
  auto back = t.detokenize(expected);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text);
}

TEST(Bpe, IgnoreMergesEmitsWholeWordTokens) {
  // "xyz" is a token no merge can build; llama3 vocabularies look whole pieces up first.
  Vocab v = bpe_vocab({{"x", "y"}});
  const TokenId xyz = testing::add_token(v, "xyz", TokenType::kNormal);
  v.pre = "llama3";
  EXPECT_EQ(ids(make(v), "xyz"), std::vector<TokenId>{xyz});
  v.pre = "gpt-2";
  EXPECT_EQ(ids(make(v), "xyz"), (std::vector<TokenId>{id_of(v, "xy"), 'z'}));
}

TEST(Bpe, MalformedMergeIsAnErrorAtLoad) {
  Vocab v = bpe_vocab({});
  v.merges = {"ab"};
  auto t = Tokenizer::create(v);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("merges[0] = 'ab' is malformed"), std::string::npos) << t.status().message();

  v.merges = {"a "};
  EXPECT_FALSE(Tokenizer::create(v).ok());
}

TEST(Bpe, MergeOfUnknownTokenIsAnErrorAtLoad) {
  Vocab v = bpe_vocab({{"a", "b"}});
  v.merges.push_back("ab zz");
  auto t = Tokenizer::create(v);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), ErrorCode::kCorrupt);
  EXPECT_NE(t.status().message().find("merges[1] = 'ab zz' refers to 'zz'"), std::string::npos)
      << t.status().message();
}

TEST(Bpe, MergeWhoseResultIsNotATokenIsAnErrorAtLoad) {
  Vocab v = bpe_vocab({});
  v.merges = {"a b"};
  auto t = Tokenizer::create(v);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("produces 'ab'"), std::string::npos) << t.status().message();
}

TEST(Bpe, UnknownPreTokenizerListsKnownOnes) {
  Vocab v = bpe_vocab({});
  v.pre = "no-such-pre";
  auto t = Tokenizer::create(v);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(t.status().message().find("'no-such-pre'"), std::string::npos);
  EXPECT_NE(t.status().message().find("deepseek-llm"), std::string::npos);
}

TEST(Bpe, DecodesByteLevelSpelling) {
  Vocab v = bpe_vocab({{" ", "h"}, {" h", "i"}, {"\n", "\n"}});
  const Tokenizer t = make(v);
  const std::string text = " hi\n\n hi";
  auto back = t.detokenize(ids(t, text));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text);
  EXPECT_EQ(ids(t, text).size(), 3u);
}

TEST(Bpe, AddsBosAndEosWhenAskedTo) {
  Vocab v = bpe_vocab({});
  const TokenId bos = testing::add_token(v, "<|bos|>", TokenType::kControl);
  const TokenId eos = testing::add_token(v, "<|eos|>", TokenType::kControl);
  v.bos = bos;
  v.eos = eos;
  v.add_bos = true;
  v.add_eos = true;
  const Tokenizer t = make(v);
  EXPECT_EQ(ids(t, "a", {.add_special = true}), (std::vector<TokenId>{bos, 'a', eos}));
  EXPECT_EQ(ids(t, "a", {.add_special = false}), (std::vector<TokenId>{'a'}));
  EXPECT_EQ(ids(t, "", {.add_special = true}), (std::vector<TokenId>{bos, eos}));
}

}  // namespace
}  // namespace strata::tokenizer
