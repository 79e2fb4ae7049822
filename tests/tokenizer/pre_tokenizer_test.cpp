// Pre-tokenizer regexes: what each family splits, and sequences of regexes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/pre_tokenizer_spec.h"

namespace strata::tokenizer {
namespace {

std::vector<std::string> split(std::string_view pre, std::string_view text) {
  auto spec = find_pre_tokenizer(pre);
  if (!spec.ok()) throw std::runtime_error(spec.status().to_string());
  auto splitter = PreTokenizer::create(*spec);
  if (!splitter.ok()) throw std::runtime_error(splitter.status().to_string());
  std::vector<std::string_view> pieces;
  const Status status = splitter->split(text, pieces);
  if (!status.ok()) throw std::runtime_error(status.to_string());
  return {pieces.begin(), pieces.end()};
}

using Pieces = std::vector<std::string>;

TEST(PreTokenizer, Gpt2) {
  EXPECT_EQ(split("gpt-2", "Hello world's  123!!"), (Pieces{"Hello", " world", "'s", " ", " 123", "!!"}));
  EXPECT_EQ(split("gpt-2", "a\t\tb  "), (Pieces{"a", "\t", "\t", "b", "  "}));
  EXPECT_EQ(split("gpt-2", "Привет, мир"), (Pieces{"Привет", ",", " мир"}));
}

TEST(PreTokenizer, Llama3GroupsDigitsByThree) {
  EXPECT_EQ(split("llama3", "12345 I'M ok\n\nyes"),
            (Pieces{"123", "45", " I", "'M", " ok", "\n\n", "yes"}));
  EXPECT_EQ(split("llama-bpe", "x+=1"), (Pieces{"x", "+=", "1"}));
}

TEST(PreTokenizer, Qwen2SplitsEveryDigit) {
  EXPECT_EQ(split("qwen2", "v123"), (Pieces{"v", "1", "2", "3"}));
  EXPECT_EQ(split("deepseek-r1-qwen", "v12"), (Pieces{"v", "1", "2"}));
}

TEST(PreTokenizer, DeepseekLlmAppliesItsRegexesInSequence) {
  // newline alone; letters with their space; " 123" is left between matches, then split by
  // the digit regex into " " and "123".
  EXPECT_EQ(split("deepseek-llm", "Hello\nworld 123"), (Pieces{"Hello", "\n", "world", " ", "123"}));
  EXPECT_EQ(split("deepseek-llm", "中文abc, ok"), (Pieces{"中文", "abc", ",", " ok"}));
  EXPECT_EQ(split("deepseek-llm", "end   "), (Pieces{"end", "   "}));
}

TEST(PreTokenizer, DeepseekCoderAndV3) {
  EXPECT_EQ(split("deepseek-coder", "ab12"), (Pieces{"ab", "1", "2"}));
  EXPECT_EQ(split("deepseek-v3", "x12345"), (Pieces{"x", "123", "45"}));
  EXPECT_EQ(split("deepseek-v3", "日本語テキスト"), (Pieces{"日本語テキスト"}));
}

TEST(PreTokenizer, FalconAndStarcoder) {
  EXPECT_EQ(split("falcon", "a,b 1234"), (Pieces{"a", ",", "b", " ", "123", "4"}));
  EXPECT_EQ(split("starcoder", "x 42"), (Pieces{"x", " ", "4", "2"}));
}

TEST(PreTokenizer, PiecesCoverTheWholeText) {
  const std::string text = "  mixed 文字 and émojis 😀👍🏽\r\n\ttabs 1,234.5 'quotes' <tag/>";
  for (std::string_view pre : {"default", "gpt-2", "llama3", "qwen2", "deepseek-llm", "deepseek-coder",
                               "deepseek-v3", "falcon", "starcoder", "refact", "command-r", "mpt", "gpt-neox",
                               "tekken", "gpt-4o", "bloom", "viking", "seed-coder", "chatglm-bpe"}) {
    std::string joined;
    for (const std::string& piece : split(pre, text)) {
      EXPECT_FALSE(piece.empty()) << pre;
      joined += piece;
    }
    EXPECT_EQ(joined, text) << pre;
  }
}

TEST(PreTokenizer, EmptyAndDefaultNames) {
  EXPECT_TRUE(split("gpt-2", "").empty());
  auto empty = find_pre_tokenizer("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->name, "default");
  EXPECT_FALSE(find_pre_tokenizer("nope").ok());
}

}  // namespace
}  // namespace strata::tokenizer
