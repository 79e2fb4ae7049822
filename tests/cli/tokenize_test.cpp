// `strata tokenize` against the reference vocabularies: output formats, flags, errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "support/fixtures.h"
#include "support/run_command.h"

namespace {

using strata::testing::run_command;

std::string vocab(const std::string& name) {
  return (strata::testing::fixtures_dir() / "tokenizer" / name).string();
}

std::string strata_cmd() { return strata::testing::strata_binary().string(); }

size_t line_count(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

TEST(TokenizeCommand, PrintsOneLinePerTokenWithItsPiece) {
  STRATA_REQUIRE_FIXTURES();
  const auto r = run_command(strata_cmd() + " tokenize -m " + vocab("ggml-vocab-llama-spm.gguf") + " -p 'Hello world'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "     1 -> '<s>'\n 15043 -> ' Hello'\n  3186 -> ' world'\n");
}

TEST(TokenizeCommand, IdsPrintsAJsonArrayAndNoBosDropsBos) {
  STRATA_REQUIRE_FIXTURES();
  const std::string base = strata_cmd() + " tokenize -m " + vocab("ggml-vocab-llama-spm.gguf") + " -p 'Hello world'";
  auto r = run_command(base + " --ids");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "[1, 15043, 3186]\n");
  r = run_command(base + " --ids --no-bos");
  EXPECT_EQ(r.output, "[15043, 3186]\n");
}

TEST(TokenizeCommand, ByteLevelVocabularyAddsNoBosByDefault) {
  STRATA_REQUIRE_FIXTURES();
  // GPT-2's vocabulary has add_bos_token = false; " world" is one token (995).
  const auto r = run_command(strata_cmd() + " tokenize -m " + vocab("ggml-vocab-gpt-2.gguf") + " -p 'Hello world' --ids");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "[15496, 995]\n");
}

TEST(TokenizeCommand, ParseSpecialTurnsControlTextIntoTokens) {
  STRATA_REQUIRE_FIXTURES();
  const std::string base =
      strata_cmd() + " tokenize -m " + vocab("ggml-vocab-gpt-2.gguf") + " -p 'a<|endoftext|>' --ids";
  auto r = run_command(base + " --parse-special");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "[64, 50256]\n");
  r = run_command(base);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("50256"), std::string::npos) << r.output;
}

TEST(TokenizeCommand, ReadsStdin) {
  STRATA_REQUIRE_FIXTURES();
  const auto r = run_command("printf 'Hello\\nworld' | " + strata_cmd() + " tokenize -m " +
                             vocab("ggml-vocab-deepseek-llm.gguf") + " --stdin --ids --no-bos");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.front(), '[');
  EXPECT_EQ(line_count(r.output), 1u);
}

TEST(TokenizeCommand, ShowsBytePiecesAsEscapes) {
  STRATA_REQUIRE_FIXTURES();
  const auto r =
      run_command(strata_cmd() + " tokenize -m " + vocab("ggml-vocab-llama-spm.gguf") + " -p '😀' --no-bos");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("'\\xF0'"), std::string::npos) << r.output;
}

TEST(TokenizeCommand, ErrorsAreOneLineAndExitOne) {
  STRATA_REQUIRE_FIXTURES();
  const std::string model = " -m " + vocab("ggml-vocab-gpt-2.gguf");
  const std::string cases[] = {
      strata_cmd() + " tokenize -m /nonexistent/vocab.gguf -p x",              // missing file
      strata_cmd() + " tokenize" + model,                                      // no text
      strata_cmd() + " tokenize" + model + " -p x --stdin </dev/null",         // both
      "printf 'a\\377b' | " + strata_cmd() + " tokenize" + model + " --stdin",  // invalid UTF-8
      strata_cmd() + " tokenize -m " + vocab("ggml-vocab-gpt-2.gguf.out") + " -p x",  // not GGUF
  };
  for (const std::string& command : cases) {
    const auto r = run_command(command);
    EXPECT_EQ(r.exit_code, 1) << command << "\n" << r.output;
    EXPECT_EQ(line_count(r.output), 1u) << command << "\n" << r.output;
    EXPECT_EQ(r.output.rfind("strata tokenize: error: ", 0), 0u) << r.output;
  }
  const auto invalid = run_command("printf 'a\\377b' | " + strata_cmd() + " tokenize" + model + " --stdin");
  EXPECT_NE(invalid.output.find("not valid UTF-8"), std::string::npos) << invalid.output;
}

}  // namespace
