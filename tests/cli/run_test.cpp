// `strata run` end to end: llama.cpp's reference logits and greedy tokens for tiny-llama-hd128,
// -p tokenization, the JSON and text outputs, and one clear line with exit 1 for bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/tiny_model.h"
#include "support/fixtures.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace strata {
namespace {

using testing::run_command;

std::string strata() { return testing::strata_binary().string(); }
std::filesystem::path reference_dir() { return testing::fixtures_dir() / "reference" / "tiny-llama-hd128"; }
std::filesystem::path tiny_llama() { return testing::fixtures_dir() / "models" / "tiny-llama-hd128.gguf"; }

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::vector<float> read_floats(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

std::string prompt_ids() {
  std::string ids;
  const nlohmann::json prompt = read_json(reference_dir() / "prompt.json");
  for (int32_t id : prompt["tokens"]) {
    ids += (ids.empty() ? "" : ",") + std::to_string(id);
  }
  return ids;
}

// The JSON object is the last line of the output (stderr may hold log lines before it).
nlohmann::json last_json_line(const std::string& output) {
  const size_t end = output.find_last_not_of('\n');
  const size_t start = output.rfind('\n', end);
  return nlohmann::json::parse(output.substr(start == std::string::npos ? 0 : start + 1, end + 1));
}

struct Config {
  const char* name;
  const char* ctk;
  const char* ctv;
  const char* fa;
  bool quantized;
};

class RunReferenceTest : public ::testing::TestWithParam<Config> {};

TEST_P(RunReferenceTest, LogitsAndGreedyTokensMatchLlamaCpp) {
  STRATA_REQUIRE_FIXTURES();
  const Config& c = GetParam();
  testing::TempDir dir;
  const auto logits_path = dir / "logits.f32";
  const std::string command = fmt::format(
      "{} run -m {} --tokens {} --logits-out {} --json -c 256 -t 1 -ctk {} -ctv {} -fa {} --temp 0 -n 4 --ignore-eos",
      strata(), tiny_llama().string(), prompt_ids(), logits_path.string(), c.ctk, c.ctv, c.fa);
  const auto result = run_command(command);
  ASSERT_EQ(result.exit_code, 0) << command << "\n" << result.output;
  const nlohmann::json out = last_json_line(result.output);
  EXPECT_EQ(out["prompt_tokens"], read_json(reference_dir() / "prompt.json")["tokens"]);
  ASSERT_EQ(out["generated"].size(), 4u);
  EXPECT_TRUE(out["text"].is_string());
  EXPECT_EQ(out["timings"]["prompt_n"], 17);
  EXPECT_GT(out["timings"]["prompt_per_second"].get<double>(), 0.0);
  EXPECT_EQ(out["timings"]["decode_n"], 3);

  const std::vector<float> ours = read_floats(logits_path);
  ASSERT_EQ(ours.size(), 17u * 32000u);
  const std::string reference = c.quantized ? "f32_f32_fa0" : c.name;
  const std::vector<float> ref = read_floats(reference_dir() / (reference + ".logits.f32"));
  double max_diff = 0, mean_diff = 0;
  for (size_t i = 0; i < ours.size(); ++i) {
    const double e = std::abs(static_cast<double>(ours[i]) - ref[i]);
    max_diff = std::max(max_diff, e);
    mean_diff += e / static_cast<double>(ours.size());
  }
  if (!c.quantized) {
    EXPECT_LT(max_diff, 0.25);
    EXPECT_LT(mean_diff, 0.03);
    const auto expected = read_json(reference_dir() / (std::string(c.name) + ".greedy.json"))["generated"];
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(out["generated"][i], expected[i]) << "greedy step " << i;
  } else {
    // 1.5x llama.cpp's own error against f32/f32 (its figures without cache rotation).
    double own_max = 0, own_mean = 0;
    const nlohmann::json diffs = read_json(reference_dir() / "diffs.json");
    for (const auto& row : diffs["rows"]) {
      if (row["config"] == std::string(c.name) + "_norot") {
        own_max = row["prompt_max_abs"];
        own_mean = row["prompt_mean_abs"];
      }
    }
    ASSERT_GT(own_max, 0.0);
    EXPECT_LT(max_diff, 1.5 * own_max + 0.1);
    EXPECT_LT(mean_diff, 1.5 * own_mean + 0.02);
  }
}

INSTANTIATE_TEST_SUITE_P(TinyLlamaHd128, RunReferenceTest,
                         ::testing::Values(Config{"f32_f32_fa0", "f32", "f32", "off", false},
                                           Config{"f16_f16_fa0", "f16", "f16", "off", false},
                                           Config{"f16_f16_fa1", "f16", "f16", "on", false},
                                           Config{"q8_0_q8_0_fa1", "q8_0", "q8_0", "on", true},
                                           Config{"q8_0_q4_0_fa1", "q8_0", "q4_0", "on", true},
                                           Config{"q4_0_q4_0_fa1", "q4_0", "q4_0", "on", true}),
                         [](const ::testing::TestParamInfo<Config>& info) { return std::string(info.param.name); });

TEST(RunTest, PromptTextIsTokenizedWithBos) {
  STRATA_REQUIRE_FIXTURES();
  const std::string text = read_json(reference_dir() / "prompt.json")["text"];
  const auto result = run_command(fmt::format("{} run -m {} -p '{}' --json -c 256 -t 2 --temp 0 -n 3 --ignore-eos",
                                              strata(), tiny_llama().string(), text));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const nlohmann::json out = last_json_line(result.output);
  EXPECT_EQ(out["prompt_tokens"], read_json(reference_dir() / "prompt.json")["tokens"]);
  // Default f16 cache with flash attention: the f16 reference's first greedy tokens.
  const auto expected = read_json(reference_dir() / "f16_f16_fa1.greedy.json")["generated"];
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(out["generated"][i], expected[i]);
  EXPECT_FALSE(out["text"].get<std::string>().empty());
}

TEST(RunTest, TextOutputPrintsPromptAndTimings) {
  STRATA_REQUIRE_FIXTURES();
  const auto result = run_command(fmt::format("{} run -m {} -p 'Once upon a time' -c 64 -t 1 --temp 0.7 --seed 3 -n 5",
                                              strata(), tiny_llama().string()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.rfind("Once upon a time", 0), 0u) << result.output;
  EXPECT_NE(result.output.find("tokens/s"), std::string::npos) << result.output;
}

class RunBadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::TinySpec spec;
    spec.n_embd = 160;  // head dim 80
    spec.n_head = 2;
    spec.n_head_kv = 2;
    model_ = testing::write_tiny_model(spec, dir_.path(), "hd80.gguf").string();
    testing::TinySpec other;
    other.architecture_name = "gpt2";
    unknown_arch_ = testing::write_tiny_model(other, dir_.path(), "gpt2.gguf").string();
  }

  // Expects exit 1 and a single line naming the problem.
  void expect_refused(const std::string& args, std::initializer_list<std::string> needles) {
    const auto result = run_command(strata() + " run " + args);
    EXPECT_EQ(result.exit_code, 1) << args << "\n" << result.output;
    std::string line = result.output;
    while (!line.empty() && line.back() == '\n') line.pop_back();
    EXPECT_EQ(line.find('\n'), std::string::npos) << "more than one line for " << args << ":\n" << result.output;
    EXPECT_NE(line.find("error"), std::string::npos) << line;
    for (const std::string& needle : needles) EXPECT_NE(line.find(needle), std::string::npos) << args << ": " << line;
  }

  testing::TempDir dir_;
  std::string model_;
  std::string unknown_arch_;
};

TEST_F(RunBadInputTest, WorksWithGoodInput) {
  const auto result = run_command(strata() + " run -m " + model_ + " --tokens 1,2,3 -n 2 --json -t 1");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(last_json_line(result.output)["generated"].size(), 2u);
}

TEST_F(RunBadInputTest, PromptLongerThanContext) {
  expect_refused("-m " + model_ + " --tokens 1,2,3,4,5 -c 4", {"5 tokens", "-c"});
}

TEST_F(RunBadInputTest, QuantizedCacheWithHeadDim80) {
  expect_refused("-m " + model_ + " --tokens 1,2 -ctk q4_0", {"q4_0", "80", "f32, f16, bf16"});
  expect_refused("-m " + model_ + " --tokens 1,2 -ctv q8_0", {"q8_0", "80"});
}

TEST_F(RunBadInputTest, UnknownTypeName) {
  expect_refused("-m " + model_ + " --tokens 1,2 -ctk q3_x", {"q3_x", "q8_0, q5_1"});
}

TEST_F(RunBadInputTest, ZeroThreads) { expect_refused("-m " + model_ + " --tokens 1,2 -t 0", {"-t 0", "1 to"}); }

TEST_F(RunBadInputTest, UnknownArchitecture) {
  expect_refused("-m " + unknown_arch_ + " --tokens 1,2", {"gpt2", "llama, qwen2"});
}

TEST_F(RunBadInputTest, NegativeTokenCount) { expect_refused("-m " + model_ + " --tokens 1,2 -n -3", {"-n -3"}); }

TEST_F(RunBadInputTest, OtherBadSettings) {
  expect_refused("-m " + model_ + " --tokens 1,2 -fa maybe", {"maybe", "on, off or auto"});
  expect_refused("-m " + model_ + " -n 2", {"-p", "--tokens"});
  expect_refused("-m " + model_ + " --tokens 1,x,3", {"'x'"});
  expect_refused("-m " + model_ + " --tokens 1,96", {"96", "vocabulary"});
  expect_refused("-m " + model_ + " -p hello", {"-p"});  // the test model has no vocabulary
  expect_refused("-m " + dir_.path().string() + "/missing.gguf --tokens 1", {"missing.gguf"});
  expect_refused("-m " + model_ + " --tokens 1,2 -c -1", {"-c -1"});
  expect_refused("-m " + model_ + " --tokens 1,2 --top-p 3", {"top_p"});
  expect_refused("-m " + model_ + " --tokens 1,2 -c 1000000000", {"GiB", "-c"});  // far beyond this machine
}

}  // namespace
}  // namespace strata
