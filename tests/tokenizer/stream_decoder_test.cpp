// Streaming detokenization: never half a UTF-8 character, whatever the token boundaries.
#include <gtest/gtest.h>

#include "tiny_vocab.h"
#include "tokenizer/stream_decoder.h"
#include "core/utf8.h"
#include "tokenizer/utf8_assembler.h"

namespace strata::tokenizer {
namespace {

const std::string kMixed = "aé中😀👍🏽 Привет\n";

bool valid(std::string_view s) { return !find_invalid_utf8(s).has_value(); }

TEST(Utf8Assembler, SplitAtEveryBytePosition) {
  for (size_t cut = 0; cut <= kMixed.size(); ++cut) {
    Utf8Assembler a;
    const std::string first = a.push(std::string_view(kMixed).substr(0, cut));
    const std::string second = a.push(std::string_view(kMixed).substr(cut));
    const std::string last = a.finish();
    EXPECT_TRUE(valid(first) && valid(second)) << "cut " << cut;
    EXPECT_EQ(first + second + last, kMixed) << "cut " << cut;
    EXPECT_TRUE(last.empty());
  }
}

TEST(Utf8Assembler, OneByteAtATime) {
  Utf8Assembler a;
  std::string out;
  for (char c : kMixed) {
    const std::string chunk = a.push(std::string_view(&c, 1));
    EXPECT_TRUE(valid(chunk));
    out += chunk;
  }
  EXPECT_EQ(out + a.finish(), kMixed);
}

TEST(Utf8Assembler, InvalidBytesBecomeReplacementCharacters) {
  Utf8Assembler a;
  EXPECT_EQ(a.push("\xF0\x9F"), "");                // could still become an emoji
  EXPECT_EQ(a.push("a"), "\xEF\xBF\xBD" "a");       // it did not
  EXPECT_EQ(a.push("\xFF"), "\xEF\xBF\xBD");        // never valid: out at once
  EXPECT_EQ(a.push("\xE4\xB8"), "");
  EXPECT_EQ(a.finish(), "\xEF\xBF\xBD");            // cut off at the end
  EXPECT_EQ(a.push("ok"), "ok");                    // finish() reset it
}

TEST(StreamDecoder, ByteTokensSplitAtEveryPosition) {
  // A byte-level vocabulary with no merges: one token per byte, so each token boundary is a
  // byte boundary and every split inside a character is exercised.
  const Tokenizer t = testing::make(testing::bpe_vocab({}));
  const auto tokens = testing::ids(t, kMixed);
  ASSERT_EQ(tokens.size(), kMixed.size());
  StreamDecoder decoder(t);
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto chunk = decoder.push(tokens[i]);
    ASSERT_TRUE(chunk.ok());
    EXPECT_TRUE(valid(*chunk)) << "after token " << i;
    out += *chunk;
    // Whatever was emitted so far is a prefix of the text ending on a character boundary.
    EXPECT_EQ(kMixed.compare(0, out.size(), out), 0);
  }
  EXPECT_EQ(out + decoder.finish(), kMixed);
}

TEST(StreamDecoder, SpmStripsOnlyTheFirstPrefixSpace) {
  Vocab v = testing::spm_vocab({{"▁", -5}, {"h", -3}, {"i", -3}, {"▁h", -2}, {"▁hi", -1}});
  const Tokenizer t = testing::make(v);
  const auto tokens = testing::ids(t, "hi 😀 hi", {.add_special = true});
  StreamDecoder decoder(t);
  std::string out;
  for (TokenId id : tokens) out += *decoder.push(id);
  EXPECT_EQ(out + decoder.finish(), "hi 😀 hi");
}

TEST(StreamDecoder, UnknownIdIsAnErrorAndChangesNothing) {
  const Tokenizer t = testing::make(testing::bpe_vocab({}));
  StreamDecoder decoder(t);
  EXPECT_EQ(*decoder.push(0xE4), "");
  EXPECT_FALSE(decoder.push(100000).ok());
  EXPECT_EQ(*decoder.push(0xB8), "");
  EXPECT_EQ(*decoder.push(0xAD), "中");
}

TEST(StreamDecoder, IncompleteTailIsFlushedAsReplacement) {
  const Tokenizer t = testing::make(testing::bpe_vocab({}));
  StreamDecoder decoder(t);
  EXPECT_EQ(*decoder.push('a'), "a");
  EXPECT_EQ(*decoder.push(0xF0), "");
  EXPECT_EQ(decoder.finish(), "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace strata::tokenizer
