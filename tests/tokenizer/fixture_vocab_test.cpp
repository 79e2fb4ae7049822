// The reference vocabularies in ../shared/fixtures/tokenizer: every .inp case must give the
// .out ids exactly (add_special=false, parse_special=false), and decode back to its text.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "support/fixtures.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace strata::tokenizer {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> read_cases(const std::filesystem::path& path) {
  const std::string all = read_all(path);
  const std::string marker = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t pos = 0;
  while (true) {
    const size_t end = all.find(marker, pos);
    if (end == std::string::npos) break;
    cases.push_back(all.substr(pos, end - pos));
    pos = end + marker.size();
  }
  return cases;
}

std::vector<std::vector<TokenId>> read_expected(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::vector<TokenId>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ss(line);
    std::vector<TokenId> ids;
    TokenId id;
    while (ss >> id) ids.push_back(id);
    out.push_back(std::move(ids));
  }
  return out;
}

std::string show(const std::vector<TokenId>& ids) {
  std::string s;
  for (TokenId id : ids) {
    s.push_back(' ');
    s.append(std::to_string(id));
  }
  return s;
}

class FixtureVocab : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureVocab, ReproducesReferenceTokenization) {
  STRATA_REQUIRE_FIXTURES();
  const auto dir = strata::testing::fixtures_dir() / "tokenizer";
  const auto gguf_path = dir / GetParam();
  auto file = gguf::File::open(gguf_path);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  auto tok = Tokenizer::from_gguf(*file);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();

  const auto cases = read_cases(gguf_path.string() + ".inp");
  const auto expected = read_expected(gguf_path.string() + ".out");
  ASSERT_EQ(cases.size(), 46u);
  ASSERT_EQ(expected.size(), cases.size());
  int passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto ids = tok->tokenize(cases[i], {.add_special = false, .parse_special = false});
    ASSERT_TRUE(ids.ok()) << ids.status().to_string();
    EXPECT_EQ(*ids, expected[i]) << "case " << i << " '" << cases[i] << "'\n got:     " << show(*ids)
                                 << "\n expected:" << show(expected[i]);
    if (*ids == expected[i]) ++passed;
  }
  EXPECT_EQ(passed, 46);
}

TEST_P(FixtureVocab, RoundTripsEveryCase) {
  STRATA_REQUIRE_FIXTURES();
  const auto gguf_path = strata::testing::fixtures_dir() / "tokenizer" / GetParam();
  auto file = gguf::File::open(gguf_path);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  auto tok = Tokenizer::from_gguf(*file);
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  for (const std::string& text : read_cases(gguf_path.string() + ".inp")) {
    auto ids = tok->tokenize(text, {.add_special = true, .parse_special = false});
    ASSERT_TRUE(ids.ok());
    auto decoded = tok->detokenize(*ids);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, text);
    StreamDecoder stream(*tok);
    std::string streamed;
    for (TokenId id : *ids) {
      auto chunk = stream.push(id);
      ASSERT_TRUE(chunk.ok());
      streamed += *chunk;
    }
    streamed += stream.finish();
    EXPECT_EQ(streamed, text);
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, FixtureVocab,
                         ::testing::Values("ggml-vocab-llama-spm.gguf", "ggml-vocab-deepseek-llm.gguf",
                                           "ggml-vocab-gpt-2.gguf"),
                         [](const auto& info) {
                           std::string name = info.param.substr(11, info.param.size() - 16);
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace strata::tokenizer
