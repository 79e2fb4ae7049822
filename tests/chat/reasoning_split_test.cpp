// ReasoningSplitter: expected splits, and the same result however the text is cut into pieces.
#include "chat/reasoning_split.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strata::chat {
namespace {

struct Split {
  std::string reasoning;
  std::string content;
  bool operator==(const Split&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Split& s) {
  return os << "{reasoning: \"" << s.reasoning << "\", content: \"" << s.content << "\"}";
}

ReasoningSplitter make(const ReasoningSplitOptions& options) {
  auto splitter = ReasoningSplitter::create(options);
  EXPECT_TRUE(splitter.ok()) << splitter.status().message();
  return std::move(splitter).value();
}

// Feeds the pieces, checks no delta carries a fragment of a tag, and joins the deltas.
Split run(const ReasoningSplitOptions& options, const std::vector<std::string>& pieces) {
  ReasoningSplitter splitter = make(options);
  Split out;
  auto take = [&](const ReasoningDelta& d) {
    out.reasoning += d.reasoning;
    out.content += d.content;
  };
  for (const std::string& piece : pieces) take(splitter.feed(piece));
  take(splitter.flush());
  return out;
}

// Every way of cutting text into two or three pieces, and byte by byte, gives `expected`.
void expect_split(const ReasoningSplitOptions& options, const std::string& text, const Split& expected) {
  SCOPED_TRACE("input: \"" + text + "\"");
  EXPECT_EQ(run(options, {text}), expected) << "unsplit";
  for (size_t i = 0; i <= text.size(); ++i) {
    EXPECT_EQ(run(options, {text.substr(0, i), text.substr(i)}), expected) << "cut at " << i;
    for (size_t j = i; j <= text.size(); ++j) {
      ASSERT_EQ(run(options, {text.substr(0, i), text.substr(i, j - i), text.substr(j)}), expected)
          << "cuts at " << i << ", " << j;
    }
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  EXPECT_EQ(run(options, bytes), expected) << "byte by byte";
}

ReasoningSplitOptions forced_open() {
  ReasoningSplitOptions o;
  o.starts_in_reasoning = true;
  return o;
}

TEST(ReasoningSplit, DeepSeekStyle) {
  expect_split({}, "<think>\nI reason.\n</think>\n\nThe answer.", {"I reason.", "The answer."});
}

TEST(ReasoningSplit, OpenTagAlreadyInPrompt) {
  expect_split(forced_open(), "I reason.\n</think>\n\nAnswer", {"I reason.", "Answer"});
  expect_split(forced_open(), "\nstep 1\nstep 2\n</think>\n\n", {"step 1\nstep 2", ""});
}

TEST(ReasoningSplit, RepeatedOpenTagIsSwallowed) {
  expect_split(forced_open(), "<think>\nR</think>A", {"R", "A"});
}

TEST(ReasoningSplit, NoThinkBlockIsAllContent) {
  expect_split({}, "Hello <think> world</think> x", {"", "Hello <think> world</think> x"});
  expect_split({}, "  plain answer\n", {"", "  plain answer\n"});
  expect_split({}, "<thinking> is not the tag", {"", "<thinking> is not the tag"});
  expect_split({}, "a</think>b", {"", "a</think>b"});
}

TEST(ReasoningSplit, LeadingWhitespaceBeforeOpenTag) {
  expect_split({}, "\n <think>x</think>y", {"x", "y"});
}

TEST(ReasoningSplit, UnterminatedBlockIsReasoning) {
  expect_split({}, "<think>\nstill thinking  \n", {"still thinking", ""});
  expect_split({}, "<think>abc</thi", {"abc</thi", ""});
  expect_split(forced_open(), "half a thought", {"half a thought", ""});
  expect_split(forced_open(), "  ", {"", ""});
}

TEST(ReasoningSplit, IncompleteOpenTagAtEndIsText) {
  expect_split({}, "<thi", {"", "<thi"});
  expect_split({}, "  <think", {"", "  <think"});
  expect_split(forced_open(), "<thi", {"<thi", ""});
}

TEST(ReasoningSplit, AngleBracketsInsideReasoning) {
  expect_split({}, "<think>a < b </ c </thinker</think>ok", {"a < b </ c </thinker", "ok"});
}

TEST(ReasoningSplit, InnerWhitespaceIsKept) {
  expect_split({}, "<think> a  b\n\nc \t</think> \n d  e ", {"a  b\n\nc", "d  e "});
}

TEST(ReasoningSplit, SecondThinkBlockIsContent) {
  expect_split({}, "<think>r</think>c<think>x</think>", {"r", "c<think>x</think>"});
}

TEST(ReasoningSplit, EmptyInputAndEmptyBlock) {
  expect_split({}, "", {"", ""});
  expect_split({}, "<think></think>", {"", ""});
  expect_split({}, "<think>\n\n</think>\n\nanswer", {"", "answer"});
}

TEST(ReasoningSplit, WithoutTrimming) {
  ReasoningSplitOptions o;
  o.trim_whitespace = false;
  expect_split(o, "<think>\nR\n</think>\n\nA", {"\nR\n", "\n\nA"});
  o.starts_in_reasoning = true;
  expect_split(o, " R </think> A ", {" R ", " A "});
}

TEST(ReasoningSplit, CustomTags) {
  ReasoningSplitOptions o;
  o.open_tag = "[THINK]";
  o.close_tag = "[/THINK]";
  expect_split(o, "[THINK]plan[/THINK]done", {"plan", "done"});
  expect_split(o, "<think>x</think>", {"", "<think>x</think>"});
  // A close tag that repeats its own first bytes ("aab" inside "aaab").
  ReasoningSplitOptions r;
  r.open_tag = "<<";
  r.close_tag = "aab";
  expect_split(r, "<<xaaaabz", {"xaa", "z"});
}

TEST(ReasoningSplit, Utf8IsPassedThrough) {
  expect_split({}, "<think>думаю 🤔</think>\n\nответ", {"думаю 🤔", "ответ"});
}

TEST(ReasoningSplit, ReleasesEarlyAndTracksState) {
  ReasoningSplitter s = make({});
  auto d = s.feed("<thi");
  EXPECT_EQ(d.reasoning + d.content, "");
  EXPECT_FALSE(s.in_reasoning());
  d = s.feed("nk>Hello");
  EXPECT_EQ(d.reasoning, "Hello");
  EXPECT_TRUE(s.in_reasoning());
  d = s.feed(" world</");
  EXPECT_EQ(d.reasoning, " world");  // "</" is held back: it may become the close tag
  d = s.feed("think>");
  EXPECT_EQ(d.reasoning + d.content, "");
  EXPECT_FALSE(s.in_reasoning());
  d = s.feed("\n\nAns");
  EXPECT_EQ(d.content, "Ans");
  d = s.feed("wer");
  EXPECT_EQ(d.content, "wer");
  d = s.flush();
  EXPECT_EQ(d.reasoning + d.content, "");
}

TEST(ReasoningSplit, ContentIsNotHeldBack) {
  ReasoningSplitter s = make({});
  EXPECT_EQ(s.feed("Hi").content, "Hi");
  EXPECT_EQ(s.feed(" <").content, " <");  // in content, tags mean nothing
}

TEST(ReasoningSplit, RejectsBadTags) {
  ReasoningSplitOptions o;
  o.open_tag = "";
  auto r = ReasoningSplitter::create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("open_tag"), std::string::npos);
  ReasoningSplitOptions c;
  c.close_tag = std::string(kMaxReasoningTagBytes + 1, 'x');
  r = ReasoningSplitter::create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("close_tag"), std::string::npos);
}

}  // namespace
}  // namespace strata::chat
