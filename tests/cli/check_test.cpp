// `strata check` end to end: the memory plan of a supported configuration (KV bytes exactly
// kv_memory's), and exit 1 with the reason for a cache type the head size refuses, a context
// larger than memory and bad flags.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "kv/kv_memory.h"
#include "support/fixtures.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace strata {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::run_command;

std::string strata() { return "'" + testing::strata_binary().string() + "'"; }

class CheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<testing::TempDir>();
    // tiny: 4 layers, n_head_kv 2, head_dim 64.
    const CommandResult tiny = run_command(fmt::format("{} synth --preset tiny -o '{}'", strata(), tiny_path()));
    ASSERT_EQ(tiny.exit_code, 0) << tiny.output;
    const CommandResult hd80 = run_command(
        fmt::format("{} synth --preset tiny --n-embd 320 --n-head 4 --n-head-kv 2 -o '{}'", strata(), hd80_path()));
    ASSERT_EQ(hd80.exit_code, 0) << hd80.output;
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static std::string tiny_path() { return (*dir_ / "tiny.gguf").string(); }
  static std::string hd80_path() { return (*dir_ / "hd80.gguf").string(); }

  static CommandResult check(const std::string& model, const std::string& args) {
    return run_command(fmt::format("{} check -m '{}' {}", strata(), model, args));
  }

  static inline std::unique_ptr<testing::TempDir> dir_;
};

json json_object(const std::string& output) {
  const size_t start = output.find("{\n");
  EXPECT_NE(start, std::string::npos) << output;
  if (start == std::string::npos) return json();
  const size_t end = output.rfind("\n}");
  return json::parse(output.substr(start, end + 2 - start), nullptr, /*allow_exceptions=*/false);
}

TEST_F(CheckTest, SupportedConfigurationPrintsThePlan) {
  const CommandResult r = check(tiny_path(), "-c 1024 -ctk q8_0 -ctv q4_0 -np 2 -t 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json j = json_object(r.output);
  ASSERT_TRUE(j.is_object()) << r.output;
  EXPECT_TRUE(j["supported"].get<bool>());
  EXPECT_EQ(j["n_ctx"], 1024);
  EXPECT_EQ(j["n_seq"], 2);
  EXPECT_EQ(j["type_k"], "q8_0");
  EXPECT_EQ(j["type_v"], "q4_0");
  EXPECT_EQ(j["n_batch"], 512);
  ASSERT_EQ(j["devices"].size(), 1u);
  const json& cpu = j["devices"][0];
  EXPECT_EQ(cpu["name"], "CPU");

  kv::KvShape shape{4, 2, 64, 64};
  kv::KvConfig config{.n_ctx = 1024, .n_seq = 2, .type_k = quant::Type::Q8_0, .type_v = quant::Type::Q4_0};
  auto expected = kv::estimate_kv_memory(shape, config);
  ASSERT_TRUE(expected.ok()) << expected.status().message();
  EXPECT_EQ(cpu["kv_bytes"].get<uint64_t>(), expected->total_bytes());
  EXPECT_EQ(cpu["k_bytes"].get<uint64_t>(), expected->k_bytes);
  EXPECT_EQ(cpu["v_bytes"].get<uint64_t>(), expected->v_bytes);
  // 1024 cells x 4 layers x 128 values: q8_0 34 bytes per 32, q4_0 18 bytes per 32.
  EXPECT_EQ(expected->k_bytes, 1024u * 4 * 4 * 34);
  EXPECT_EQ(expected->v_bytes, 1024u * 4 * 4 * 18);
  EXPECT_EQ(cpu["weights_bytes"], 6824960);  // the tensor data of the f16 tiny model
  EXPECT_GT(cpu["scratch_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(cpu["total_bytes"].get<uint64_t>(), cpu["weights_bytes"].get<uint64_t>() +
                                                    cpu["kv_bytes"].get<uint64_t>() +
                                                    cpu["scratch_bytes"].get<uint64_t>());
  EXPECT_GT(cpu["memory_total"].get<uint64_t>(), 0u);
  EXPECT_GT(cpu["memory_available"].get<uint64_t>(), 0u);
  for (const json& c : j["checks"]) EXPECT_TRUE(c["ok"].get<bool>()) << c.dump();

  const CommandResult text = check(tiny_path(), "-c 1024 -ctk q8_0 -ctv q4_0 -np 2 -t 1");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find(fmt::format("({} bytes: K", expected->total_bytes())), std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("device CPU ("), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("\nsupported\n"), std::string::npos) << text.output;
}

TEST_F(CheckTest, ContextBeyondTrainingIsOnlyAWarning) {
  const CommandResult r = check(tiny_path(), "-c 8192");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("warning: -c 8192 is beyond the training context of 2048"), std::string::npos)
      << r.output;
}

TEST_F(CheckTest, QuantizedCacheOnHeadDim80IsRefusedWithTheTypesThatWork) {
  const CommandResult r = check(hd80_path(), "-c 1024 -ctk q4_0 -ctv q4_0");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("not supported"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("strata check: error: kv types:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("q4_0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("80"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("f32, f16, bf16"), std::string::npos) << r.output;

  // The same model with f16 is fine.
  EXPECT_EQ(check(hd80_path(), "-c 1024").exit_code, 0);
}

TEST_F(CheckTest, ContextLargerThanMemoryIsRefusedWithAContextThatFits) {
  // 2 KiB per cell at f16: 10^9 cells is about 1.9 TiB.
  const CommandResult r = check(tiny_path(), "-c 1000000000 --json");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const json j = json_object(r.output);
  ASSERT_TRUE(j.is_object()) << r.output;
  EXPECT_FALSE(j["supported"].get<bool>());
  EXPECT_NE(j["reason"].get<std::string>().find("memory"), std::string::npos) << j.dump();
  EXPECT_NE(r.output.find("strata check: error: memory: needs"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("use -c "), std::string::npos) << r.output;
}

TEST_F(CheckTest, BadFlagsFailWithOneLine) {
  struct Case {
    std::string model;
    std::string args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {tiny_path(), "-ctk q9_0", "q9_0"},
      {tiny_path(), "-ctv nope", "nope"},
      {tiny_path(), "-np 0", "-np 0"},
      {tiny_path(), "-t 0", "-t 0"},
      {tiny_path(), "-c -4", "-c"},
      {tiny_path(), "-c 1 -np 2", "-np"},
      {"/nonexistent/model.gguf", "", "/nonexistent/model.gguf"},
  };
  for (const Case& c : cases) {
    const CommandResult r = check(c.model, c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find("error"), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << c.args << "\n" << r.output;
  }
}

}  // namespace
}  // namespace strata
