// `strata synth` and `strata quantize` through the real binary: exit codes and one-line errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "support/fixtures.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace {

using strata::testing::run_command;
using strata::testing::strata_binary;

std::string strata(const std::string& args) { return "'" + strata_binary().string() + "' " + args; }

size_t line_count(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

TEST(SynthCli, WritesATinyModelAndQuantizesIt) {
  strata::testing::TempDir dir;
  const auto model = dir / "tiny.gguf";
  auto r = run_command(strata("synth --preset tiny --type f32 --seed 3 -t 2 -o '" + model.string() + "'"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("wrote"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find('\r'), std::string::npos) << "no progress bar when stderr is not a terminal";
  ASSERT_TRUE(std::filesystem::exists(model));

  const auto q = dir / "tiny-q4km.gguf";
  r = run_command(strata("quantize '" + model.string() + "' '" + q.string() + "' Q4_K_M -t 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("q4_K_M"), std::string::npos) << r.output;
  ASSERT_TRUE(std::filesystem::exists(q));
  EXPECT_LT(std::filesystem::file_size(q), std::filesystem::file_size(model) / 4);

  // llama-quantize's positional thread count is accepted too.
  r = run_command(strata("quantize '" + q.string() + "' '" + (dir / "back.gguf").string() + "' f16 2"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(SynthCli, ExplicitShapeFlagsAndQwen2) {
  strata::testing::TempDir dir;
  const auto model = dir / "q.gguf";
  auto r = run_command(strata("synth --arch qwen2 --preset tiny --n-layer 2 --n-embd 128 --n-head 2 --n-head-kv 1 "
                              "--n-ff 256 --n-vocab 600 --ctx 512 --tie-embeddings --type q8_0 -o '" +
                              model.string() + "'"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("qwen2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 layers"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("n_vocab 600"), std::string::npos) << r.output;
}

TEST(SynthCli, ChatTemplateFileAndVocab) {
  strata::testing::TempDir dir;
  const auto tmpl = dir / "t.jinja";
  {
    FILE* f = std::fopen(tmpl.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("{{ messages }}", f);
    std::fclose(f);
  }
  auto r = run_command(strata("synth --type q4_0 --chat-template-file '" + tmpl.string() + "' -o '" +
                              (dir / "a.gguf").string() + "'"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run_command(strata("synth --chat-template-file '" + (dir / "none.jinja").string() + "' -o '" +
                         (dir / "b.gguf").string() + "'"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(line_count(r.output), 1u) << r.output;
  EXPECT_NE(r.output.find("none.jinja"), std::string::npos) << r.output;

  if (!strata::testing::have_fixtures()) return;
  const auto vocab = strata::testing::fixtures_dir() / "tokenizer" / "ggml-vocab-gpt-2.gguf";
  if (!std::filesystem::exists(vocab)) return;
  r = run_command(strata("synth --n-layer 1 --type q4_0 --vocab '" + vocab.string() + "' -o '" +
                         (dir / "c.gguf").string() + "'"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("n_vocab 50257"), std::string::npos) << r.output;
}

TEST(SynthCli, ErrorsAreOneLineWithExitCode1) {
  strata::testing::TempDir dir;
  const std::string out = " -o '" + (dir / "x.gguf").string() + "'";
  struct Case {
    std::string args;
    std::string expect;
  };
  const Case cases[] = {
      {"synth --type q7_0" + out, "valid types"},
      {"synth --preset huge" + out, "valid presets"},
      {"synth --arch mamba" + out, "mamba"},
      {"synth --n-head-kv 3" + out, "n_head_kv 3"},
      {"synth --n-vocab 10" + out, "n_vocab 10"},
      {"synth --vocab '" + (dir / "missing.gguf").string() + "'" + out, "missing.gguf"},
      {"quantize '" + (dir / "missing.gguf").string() + "' '" + (dir / "y.gguf").string() + "' q8_0", "missing.gguf"},
      {"quantize a.gguf b.gguf Q9_9", "valid types"},
      {"synth -t 100000" + out, "at most 256"},
  };
  for (const Case& c : cases) {
    auto r = run_command(strata(c.args));
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.output;
    EXPECT_EQ(line_count(r.output), 1u) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expect), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_EQ(r.output.rfind("strata ", 0), 0u) << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "x.gguf"));
  EXPECT_FALSE(std::filesystem::exists(dir / "y.gguf"));
}

}  // namespace
