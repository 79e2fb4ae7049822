// TextPipeline: detokenizing token by token with stop strings and the reasoning split.
#include <gtest/gtest.h>

#include "server/text_pipeline.h"
#include "test_model.h"

namespace strata::server {
namespace {

using testing::byte_tokens;
using testing::make_test_tokenizer;
using testing::TestVocab;

struct Collected {
  std::string reasoning;
  std::string content;
  std::vector<std::string> content_pieces;  // non-empty content deltas in order
};

Collected run(TextPipeline& p, const std::vector<int32_t>& tokens, bool finish = true) {
  Collected c;
  for (const int32_t t : tokens) {
    auto d = p.push(t);
    EXPECT_TRUE(d.ok());
    c.reasoning += d->reasoning;
    c.content += d->content;
    if (!d->content.empty()) c.content_pieces.push_back(d->content);
  }
  if (finish) {
    const TextDelta d = p.finish();
    c.reasoning += d.reasoning;
    c.content += d.content;
    if (!d.content.empty()) c.content_pieces.push_back(d.content);
  }
  return c;
}

TextPipeline make(std::vector<std::string> stops, std::optional<chat::ReasoningSplitOptions> reasoning = {}) {
  auto p = TextPipeline::create(make_test_tokenizer(), std::move(stops), reasoning);
  EXPECT_TRUE(p.ok());
  return std::move(p).value();
}

TEST(TextPipeline, PlainTextPassesThrough) {
  TextPipeline p = make({});
  const Collected c = run(p, {TestVocab::kHello, ',', ' ', 'w', 'o', 'r', 'l', 'd'});
  EXPECT_EQ(c.content, "Hello, world");
  EXPECT_EQ(c.reasoning, "");
  EXPECT_FALSE(p.stopped());
}

TEST(TextPipeline, StopStringSplitAcrossTokensIsCutAndNeverSent) {
  TextPipeline p = make({"END"});
  const Collected c = run(p, byte_tokens("abcENxEND tail"), /*finish=*/false);
  EXPECT_TRUE(p.stopped());
  EXPECT_EQ(c.content, "abcENx");
  for (const std::string& piece : c.content_pieces) EXPECT_EQ(piece.find("END"), std::string::npos);
  // After the stop, more tokens and finish() release nothing.
  auto more = p.push('z');
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->empty());
  EXPECT_TRUE(p.finish().empty());
}

TEST(TextPipeline, PartialStopPrefixIsReleasedAtTheEnd) {
  TextPipeline p = make({"STOP"});
  const Collected c = run(p, byte_tokens("go ST"));
  EXPECT_FALSE(p.stopped());
  EXPECT_EQ(c.content, "go ST");
}

TEST(TextPipeline, MultiByteCharacterSplitAcrossByteTokens) {
  TextPipeline p = make({});
  // "é" (C3 A9) then "😀" (F0 9F 98 80), one byte per token.
  const Collected c = run(p, byte_tokens("\xC3\xA9\xF0\x9F\x98\x80!"));
  EXPECT_EQ(c.content, "\xC3\xA9\xF0\x9F\x98\x80!");
  for (const std::string& piece : c.content_pieces) {
    EXPECT_TRUE(piece == "\xC3\xA9" || piece == "\xF0\x9F\x98\x80" || piece == "!") << piece;
  }
}

TEST(TextPipeline, TruncatedCharacterBecomesReplacementAtTheEnd) {
  TextPipeline p = make({});
  const Collected c = run(p, byte_tokens("a\xF0\x9F"));
  EXPECT_EQ(c.content, "a\xEF\xBF\xBD");
}

TEST(TextPipeline, ReasoningSplitWithTagTokens) {
  TextPipeline p = make({}, chat::ReasoningSplitOptions{});
  std::vector<int32_t> tokens = {TestVocab::kThink};
  for (int32_t t : byte_tokens("plan it")) tokens.push_back(t);
  tokens.push_back(TestVocab::kEndThink);
  for (int32_t t : byte_tokens("\n\nThe answer")) tokens.push_back(t);
  const Collected c = run(p, tokens);
  EXPECT_EQ(c.reasoning, "plan it");
  EXPECT_EQ(c.content, "The answer");
}

TEST(TextPipeline, ReasoningTagSpelledInBytesIsStillSplit) {
  TextPipeline p = make({}, chat::ReasoningSplitOptions{});
  const Collected c = run(p, byte_tokens("<think>hmm</think>ok"));
  EXPECT_EQ(c.reasoning, "hmm");
  EXPECT_EQ(c.content, "ok");
}

TEST(TextPipeline, StartsInsideThinkBlock) {
  chat::ReasoningSplitOptions options;
  options.starts_in_reasoning = true;
  TextPipeline p = make({}, options);
  const Collected c = run(p, byte_tokens("step 1</think>done"));
  EXPECT_EQ(c.reasoning, "step 1");
  EXPECT_EQ(c.content, "done");
}

TEST(TextPipeline, StopStringInsideReasoningEndsEverything) {
  chat::ReasoningSplitOptions options;
  options.starts_in_reasoning = true;
  TextPipeline p = make({"QUIT"}, options);
  const Collected c = run(p, byte_tokens("thinking QUIT more</think>answer"), /*finish=*/false);
  EXPECT_TRUE(p.stopped());
  EXPECT_EQ(c.reasoning, "thinking");  // trimmed, released at the stop
  EXPECT_EQ(c.content, "");
}

TEST(TextPipeline, UnknownTokenIsAnError) {
  TextPipeline p = make({});
  EXPECT_FALSE(p.push(TestVocab::kSize + 5).ok());
}

TEST(TextPipeline, BadStopStringsAreRefused) {
  EXPECT_FALSE(TextPipeline::create(make_test_tokenizer(), {""}, std::nullopt).ok());
}

}  // namespace
}  // namespace strata::server
