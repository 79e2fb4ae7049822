// SentencePiece-style vocabularies: score order, space prefix, byte fallback, unknowns.
#include <gtest/gtest.h>

#include "tiny_vocab.h"
#include "tokenizer/tokenizer.h"

namespace strata::tokenizer {
namespace {

using testing::id_of;
using testing::ids;
using testing::make;
using testing::spm_vocab;

constexpr TokenId byte_id(uint8_t b) { return 3 + b; }  // spm_vocab's layout

Vocab abc_vocab(float ab, float bc) {
  Vocab v = spm_vocab({{"▁", -5}, {"a", -1}, {"b", -1}, {"c", -1}, {"ab", ab}, {"bc", bc}});
  v.add_space_prefix = false;
  return v;
}

TEST(Spm, HigherScoreMergesFirst) {
  Vocab v = abc_vocab(-2, -1);
  EXPECT_EQ(ids(make(v), "abc"), (std::vector<TokenId>{id_of(v, "a"), id_of(v, "bc")}));
  Vocab w = abc_vocab(-1, -2);
  EXPECT_EQ(ids(make(w), "abc"), (std::vector<TokenId>{id_of(w, "ab"), id_of(w, "c")}));
}

TEST(Spm, EqualScoresMergeLeftmostFirst) {
  Vocab v = abc_vocab(-1, -1);
  EXPECT_EQ(ids(make(v), "abc"), (std::vector<TokenId>{id_of(v, "ab"), id_of(v, "c")}));
}

TEST(Spm, PrefixesASpaceAndSpellsSpacesAsLowerBlock) {
  Vocab v = spm_vocab({{"▁", -5}, {"h", -3}, {"i", -3}, {"▁h", -2}, {"▁hi", -1}});
  const TokenId hi = id_of(v, "▁hi");
  const Tokenizer t = make(v);
  EXPECT_EQ(ids(t, "hi"), std::vector<TokenId>{hi});
  EXPECT_EQ(ids(t, "hi hi"), (std::vector<TokenId>{hi, hi}));
  EXPECT_EQ(ids(t, " hi"), (std::vector<TokenId>{id_of(v, "▁"), hi}));
  EXPECT_EQ(ids(t, ""), std::vector<TokenId>{});
  EXPECT_EQ(ids(t, "", {.add_special = true}), std::vector<TokenId>{1});
}

TEST(Spm, NoSpacePrefixWhenTheVocabularySaysSo) {
  Vocab v = spm_vocab({{"▁", -5}, {"h", -3}, {"i", -3}, {"hi", -1}, {"▁hi", -1}});
  v.add_space_prefix = false;
  EXPECT_EQ(ids(make(v), "hi"), std::vector<TokenId>{id_of(v, "hi")});
}

TEST(Spm, FallsBackToByteTokens) {
  Vocab v = spm_vocab({{"▁", -5}, {"a", -1}});
  v.add_space_prefix = false;
  const Tokenizer t = make(v);
  // é is not a piece: its two UTF-8 bytes are.
  EXPECT_EQ(ids(t, "aé"), (std::vector<TokenId>{id_of(v, "a"), byte_id(0xC3), byte_id(0xA9)}));
  EXPECT_EQ(ids(t, "😀"), (std::vector<TokenId>{byte_id(0xF0), byte_id(0x9F), byte_id(0x98), byte_id(0x80)}));
  auto back = t.detokenize(ids(t, "aé😀\n"));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "aé😀\n");
}

TEST(Spm, ByteTokensAreNeverMergedFromText) {
  // "<0x41>" typed as text must not become the byte token for 'A'.
  Vocab v = spm_vocab({{"<", -1}, {"0", -1}, {"x", -1}, {"4", -1}, {"1", -1}, {">", -1}});
  v.add_space_prefix = false;
  const Tokenizer t = make(v);
  EXPECT_EQ(ids(t, "<0x41>").size(), 6u);
}

TEST(Spm, UnknownCharactersWithoutByteFallbackBecomeUnk) {
  Vocab v = spm_vocab({{"▁", -5}, {"a", -1}}, /*byte_fallback=*/false);
  v.add_space_prefix = false;
  EXPECT_EQ(ids(make(v), "aéa"), (std::vector<TokenId>{id_of(v, "a"), 0, id_of(v, "a")}));
}

TEST(Spm, RemovesExtraWhitespaceWhenAsked) {
  Vocab v = spm_vocab({{"▁", -5}, {"a", -1}, {"b", -1}, {"▁a", -1}, {"▁b", -1}});
  v.remove_extra_whitespaces = true;
  EXPECT_EQ(ids(make(v), "  a   b  "), (std::vector<TokenId>{id_of(v, "▁a"), id_of(v, "▁b")}));
  v.remove_extra_whitespaces = false;
  EXPECT_EQ(ids(make(v), "a  b").size(), 3u);  // ▁a ▁ ▁b
}

TEST(Spm, DetokenizeDropsThePrefixedSpaceOnlyWhenAsked) {
  Vocab v = spm_vocab({{"▁", -5}, {"h", -3}, {"i", -3}, {"▁h", -2}, {"▁hi", -1}});
  const Tokenizer t = make(v);
  const auto tokens = ids(t, "hi hi", {.add_special = true});
  EXPECT_EQ(*t.detokenize(tokens), "hi hi");
  EXPECT_EQ(*t.detokenize(tokens, {.strip_leading_space = false}), " hi hi");
  EXPECT_EQ(*t.detokenize(tokens, {.render_special = true, .strip_leading_space = false}), "<s> hi hi");
  EXPECT_EQ(*t.detokenize(ids(t, " hi")), " hi");
}

TEST(Spm, DetokenizeRejectsIdsOutsideTheVocabulary) {
  const Tokenizer t = make(spm_vocab({{"a", -1}}));
  const std::vector<TokenId> bad = {1, static_cast<TokenId>(t.size()), 4};
  auto r = t.detokenize(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("outside the vocabulary"), std::string::npos);
  EXPECT_FALSE(t.piece(-1).ok());
}

TEST(Spm, InvalidUtf8InputIsAClearError) {
  const Tokenizer t = make(spm_vocab({{"a", -1}}));
  auto r = t.tokenize("a\xC3(");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("offset 1"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace strata::tokenizer
