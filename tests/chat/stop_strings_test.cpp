// StopStringMatcher: expected cuts, and the same result however the text is cut into pieces.
#include "chat/stop_strings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strata::chat {
namespace {

struct Outcome {
  std::string text;
  bool stopped = false;
  std::string matched;
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "{text: \"" << o.text << "\", stopped: " << o.stopped << ", matched: \"" << o.matched << "\"}";
}

StopStringMatcher make(const std::vector<std::string>& stops) {
  auto matcher = StopStringMatcher::create(stops);
  EXPECT_TRUE(matcher.ok()) << matcher.status().message();
  return std::move(matcher).value();
}

// Feeds the pieces and joins what is released. Also checks that no release ever contains
// text that belongs to the matched stop string.
Outcome run(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopStringMatcher m = make(stops);
  Outcome out;
  for (const std::string& piece : pieces) {
    StopDelta d = m.feed(piece);
    out.text += d.text;
    if (d.stopped) out.stopped = true;
  }
  StopDelta d = m.flush();
  out.text += d.text;
  EXPECT_EQ(d.stopped, m.stopped());
  out.stopped = out.stopped || d.stopped;
  out.matched = m.matched();
  return out;
}

void expect_outcome(const std::vector<std::string>& stops, const std::string& text, const Outcome& expected) {
  SCOPED_TRACE("input: \"" + text + "\"");
  EXPECT_EQ(run(stops, {text}), expected) << "unsplit";
  for (size_t i = 0; i <= text.size(); ++i) {
    EXPECT_EQ(run(stops, {text.substr(0, i), text.substr(i)}), expected) << "cut at " << i;
    for (size_t j = i; j <= text.size(); ++j) {
      ASSERT_EQ(run(stops, {text.substr(0, i), text.substr(i, j - i), text.substr(j)}), expected)
          << "cuts at " << i << ", " << j;
    }
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  EXPECT_EQ(run(stops, bytes), expected) << "byte by byte";
}

TEST(StopStrings, CutsBeforeTheStop) {
  expect_outcome({"STOP"}, "Hello world STOP more", {"Hello world ", true, "STOP"});
}

TEST(StopStrings, NoStopReleasesEverything) {
  expect_outcome({"STOP"}, "Hello STO world ST", {"Hello STO world ST", false, ""});
  expect_outcome({}, "anything at all", {"anything at all", false, ""});
}

TEST(StopStrings, StopAtTheVeryStart) {
  expect_outcome({"<|end|>"}, "<|end|>after", {"", true, "<|end|>"});
}

TEST(StopStrings, StopAtTheVeryEnd) {
  expect_outcome({"\n\n"}, "line one\n\n", {"line one", true, "\n\n"});
}

TEST(StopStrings, FalseStartsAreReleased) {
  expect_outcome({"</s>"}, "a</b></s>", {"a</b>", true, "</s>"});
  expect_outcome({"aab"}, "aaab", {"a", true, "aab"});
  expect_outcome({"abab"}, "abaabab!", {"aba", true, "abab"});
}

TEST(StopStrings, EarliestCompletionWins) {
  // "bc" completes before "abcd" does, whatever the cuts.
  expect_outcome({"abcd", "bc"}, "xabcd", {"xa", true, "bc"});
  expect_outcome({"bc", "abcd"}, "xabcz", {"xa", true, "bc"});
}

TEST(StopStrings, SameEndLongestWins) {
  expect_outcome({"cd", "abcd"}, "xxabcdyy", {"xx", true, "abcd"});
  expect_outcome({"abcd", "cd"}, "xxzbcdyy", {"xxzb", true, "cd"});
}

TEST(StopStrings, OverlappingPrefixes) {
  const std::vector<std::string> stops = {"User:", "Use", "###", "##x"};
  expect_outcome(stops, "We Us the ## tool", {"We Us the ## tool", false, ""});
  expect_outcome(stops, "We Use it", {"We ", true, "Use"});
  expect_outcome(stops, "ok #####", {"ok ", true, "###"});
  expect_outcome(stops, "ok ##x", {"ok ", true, "##x"});
}

TEST(StopStrings, DuplicatesAreFine) {
  expect_outcome({"end", "end"}, "the end", {"the ", true, "end"});
}

TEST(StopStrings, Utf8Stops) {
  expect_outcome({"。\n"}, "你好。世界。\n再见", {"你好。世界", true, "。\n"});
}

TEST(StopStrings, HoldsOnlyWhatCouldStartAStop) {
  StopStringMatcher m = make({"Help me"});
  EXPECT_EQ(m.feed("Hello").text, "Hello");
  EXPECT_EQ(m.feed(" and Hel").text, " and ");
  EXPECT_EQ(m.feed("p").text, "");
  StopDelta d = m.feed("ful");
  EXPECT_EQ(d.text, "Helpful");
  EXPECT_FALSE(d.stopped);
  d = m.feed("! Help me now");
  EXPECT_EQ(d.text, "! ");
  EXPECT_TRUE(d.stopped);
  d = m.feed("ignored");
  EXPECT_EQ(d.text, "");
  EXPECT_TRUE(d.stopped);
  d = m.flush();
  EXPECT_EQ(d.text, "");
  EXPECT_TRUE(d.stopped);
  EXPECT_EQ(m.matched(), "Help me");
}

TEST(StopStrings, FlushReleasesHeldText) {
  StopStringMatcher m = make({"STOP"});
  EXPECT_EQ(m.feed("abc ST").text, "abc ");
  StopDelta d = m.flush();
  EXPECT_EQ(d.text, "ST");
  EXPECT_FALSE(d.stopped);
}

TEST(StopStrings, RejectsBadLists) {
  auto r = StopStringMatcher::create({"ok", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("stop string 1 is empty"), std::string::npos);

  std::vector<std::string> many(kMaxStopStrings + 1, "x");
  r = StopStringMatcher::create(many);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(std::to_string(kMaxStopStrings + 1)), std::string::npos);

  r = StopStringMatcher::create({std::string(kMaxStopStringBytes + 1, 'a')});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(std::to_string(kMaxStopStringBytes)), std::string::npos);

  std::vector<std::string> big(kMaxStopStringsTotalBytes / kMaxStopStringBytes + 1,
                               std::string(kMaxStopStringBytes, 'a'));
  r = StopStringMatcher::create(big);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("total"), std::string::npos);

  EXPECT_TRUE(StopStringMatcher::create(std::vector<std::string>(kMaxStopStrings, "abc")).ok());
}

}  // namespace
}  // namespace strata::chat
