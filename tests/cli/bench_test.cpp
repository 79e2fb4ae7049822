// `strata bench` end to end on a small synth model: llama-bench's table and JSON fields, comma
// lists as one row per combination, depth rows, and one clear line with exit 1 for bad settings.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/fixtures.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace strata {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::run_command;

std::string strata() { return "'" + testing::strata_binary().string() + "'"; }

class BenchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<testing::TempDir>();
    const CommandResult tiny = run_command(fmt::format("{} synth --preset tiny -o '{}'", strata(), tiny_path()));
    ASSERT_EQ(tiny.exit_code, 0) << tiny.output;
    // head_dim 80: quantized cache types cannot hold it.
    const CommandResult hd80 = run_command(
        fmt::format("{} synth --preset tiny --n-embd 320 --n-head 4 --n-head-kv 2 -o '{}'", strata(), hd80_path()));
    ASSERT_EQ(hd80.exit_code, 0) << hd80.output;
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static std::string tiny_path() { return (*dir_ / "tiny.gguf").string(); }
  static std::string hd80_path() { return (*dir_ / "hd80.gguf").string(); }

  static CommandResult bench(const std::string& args) {
    return run_command(fmt::format("{} bench -m '{}' -t 1 -r 2 {}", strata(), tiny_path(), args));
  }

  static inline std::unique_ptr<testing::TempDir> dir_;
};

// Table rows (lines starting with "| llama"), split into trimmed cells.
std::vector<std::vector<std::string>> table_rows(const std::string& output) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("| llama", 0) != 0) continue;
    std::vector<std::string> cells;
    size_t pos = 1;
    while (pos < line.size()) {
      const size_t end = line.find('|', pos);
      if (end == std::string::npos) break;
      std::string cell = line.substr(pos, end - pos);
      cell.erase(0, cell.find_first_not_of(' '));
      cell.erase(cell.find_last_not_of(' ') + 1);
      cells.push_back(cell);
      pos = end + 1;
    }
    rows.push_back(cells);
  }
  return rows;
}

// The JSON array (stderr log lines may come before it).
json json_array(const std::string& output) {
  const size_t start = output.find("[\n");
  EXPECT_NE(start, std::string::npos) << output;
  if (start == std::string::npos) return json();
  json j = json::parse(output.substr(start), nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(j.is_array()) << output;
  return j;
}

TEST_F(BenchTest, MarkdownHasLlamaBenchColumnsAndOneRowPerTest) {
  const CommandResult r = bench("-p 8 -n 4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("| model"), std::string::npos) << r.output;
  for (const char* column : {"size", "params", "backend", "threads", "type_k", "type_v", "fa", "test", "t/s"}) {
    EXPECT_NE(r.output.find(fmt::format(" {} ", column)), std::string::npos) << column << "\n" << r.output;
  }
  const auto rows = table_rows(r.output);
  ASSERT_EQ(rows.size(), 2u) << r.output;
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 10u) << r.output;
    EXPECT_EQ(row[0], "llama 3M F16");
    EXPECT_EQ(row[1], "6.51 MiB");
    EXPECT_EQ(row[2], "3.41 M");
    EXPECT_EQ(row[3], "CPU");
    EXPECT_EQ(row[4], "1");
    EXPECT_EQ(row[5], "f16");
    EXPECT_EQ(row[6], "f16");
    EXPECT_EQ(row[7], "0");
    EXPECT_NE(row[9].find(" ± "), std::string::npos) << row[9];
    EXPECT_GT(std::stod(row[9]), 0.0) << row[9];
  }
  EXPECT_EQ(rows[0][8], "pp8");
  EXPECT_EQ(rows[1][8], "tg4");
}

TEST_F(BenchTest, JsonHasLlamaBenchFieldsAndTypes) {
  const CommandResult r = bench("-p 8 -n 4 -fa 1 -ctk q8_0 -ctv q4_0 -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json rows = json_array(r.output);
  ASSERT_EQ(rows.size(), 2u) << r.output;
  for (const json& row : rows) {
    for (const char* key : {"build_commit", "cpu_info", "gpu_info", "backends", "model_filename", "model_type",
                            "type_k", "type_v", "test_time"}) {
      ASSERT_TRUE(row.contains(key) && row[key].is_string()) << key << "\n" << row.dump(2);
    }
    for (const char* key : {"build_number", "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads",
                            "n_gpu_layers", "n_prompt", "n_gen", "n_depth", "avg_ns", "stddev_ns"}) {
      ASSERT_TRUE(row.contains(key) && row[key].is_number_integer()) << key << "\n" << row.dump(2);
    }
    for (const char* key : {"avg_ts", "stddev_ts"}) {
      ASSERT_TRUE(row.contains(key) && row[key].is_number()) << key;
    }
    ASSERT_TRUE(row["flash_attn"].is_boolean());
    EXPECT_TRUE(row["flash_attn"].get<bool>());
    EXPECT_EQ(row["backends"], "CPU");
    EXPECT_EQ(row["model_filename"], tiny_path());
    EXPECT_EQ(row["model_type"], "llama 3M F16");
    EXPECT_EQ(row["model_size"], 6824960);
    EXPECT_EQ(row["model_n_params"], 3410176);
    EXPECT_EQ(row["n_threads"], 1);
    EXPECT_EQ(row["type_k"], "q8_0");
    EXPECT_EQ(row["type_v"], "q4_0");
    EXPECT_EQ(row["n_depth"], 0);
    EXPECT_GT(row["avg_ts"].get<double>(), 0.0);
    EXPECT_GT(row["avg_ns"].get<int64_t>(), 0);
    ASSERT_EQ(row["samples_ns"].size(), 2u);
    ASSERT_EQ(row["samples_ts"].size(), 2u);
    // avg_ts is the mean of the per-run rates, each n_tokens / seconds.
    const int64_t n_tokens = row["n_prompt"].get<int64_t>() + row["n_gen"].get<int64_t>();
    double mean_ts = 0.0;
    for (size_t i = 0; i < 2; ++i) {
      const double ns = row["samples_ns"][i].get<double>();
      EXPECT_NEAR(row["samples_ts"][i].get<double>(), n_tokens * 1e9 / ns, 1e-6 * n_tokens * 1e9 / ns);
      mean_ts += row["samples_ts"][i].get<double>() / 2;
    }
    EXPECT_NEAR(row["avg_ts"].get<double>(), mean_ts, 1e-9 * mean_ts);
  }
  EXPECT_EQ(rows[0]["n_prompt"], 8);
  EXPECT_EQ(rows[0]["n_gen"], 0);
  EXPECT_EQ(rows[1]["n_prompt"], 0);
  EXPECT_EQ(rows[1]["n_gen"], 4);
}

TEST_F(BenchTest, CommaListsGiveEveryCombination) {
  // 2 prompt lengths + 1 generation length, times 2 K types, 2 fa settings: 12 rows.
  const CommandResult r = bench("-p 8,16 -n 4 -ctk f16,q8_0 -fa 0,1 -r 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto rows = table_rows(r.output);
  ASSERT_EQ(rows.size(), 12u) << r.output;
  int q8 = 0, fa = 0, pp16 = 0;
  for (const auto& row : rows) {
    q8 += row[5] == "q8_0";
    fa += row[7] == "1";
    pp16 += row[8] == "pp16";
  }
  EXPECT_EQ(q8, 6);
  EXPECT_EQ(fa, 6);
  EXPECT_EQ(pp16, 4);
}

TEST_F(BenchTest, RepeatedModelFlagsAndCommaModelsAreBoth) {
  const CommandResult r = run_command(fmt::format("{} bench -m '{}' -m '{},{}' -t 1 -r 1 -p 8 -n 0", strata(),
                                                  tiny_path(), tiny_path(), hd80_path()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto rows = table_rows(r.output);
  ASSERT_EQ(rows.size(), 3u) << r.output;
  EXPECT_EQ(rows[2][2], "4.51 M");
}

TEST_F(BenchTest, DepthRowsAreNamedAndMeasuredAfterTheDepth) {
  const CommandResult r = bench("-p 8 -n 4 -d 0,32 -o json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json rows = json_array(r.output);
  ASSERT_EQ(rows.size(), 4u) << r.output;
  EXPECT_EQ(rows[2]["n_depth"], 32);
  EXPECT_EQ(rows[3]["n_depth"], 32);
  EXPECT_EQ(rows[3]["n_gen"], 4);

  const CommandResult md = bench("-p 8 -n 4 -d 32");
  ASSERT_EQ(md.exit_code, 0) << md.output;
  const auto table = table_rows(md.output);
  ASSERT_EQ(table.size(), 2u) << md.output;
  EXPECT_EQ(table[0][8], "pp8 @ d32");
  EXPECT_EQ(table[1][8], "tg4 @ d32");
}

TEST_F(BenchTest, BadSettingsFailWithOneLine) {
  struct Case {
    std::string args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {fmt::format("-m '{}' -ctk q9_0", tiny_path()), "q9_0"},
      {fmt::format("-m '{}' -t 0", tiny_path()), "-t 0"},
      {fmt::format("-m '{}' -t 1,x", tiny_path()), "not a number"},
      {fmt::format("-m '{}' -fa maybe", tiny_path()), "flash attention"},
      {fmt::format("-m '{}' -r 0", tiny_path()), "-r 0"},
      {fmt::format("-m '{}' -o csv", tiny_path()), "md or json"},
      {fmt::format("-m '{}' -p 0 -n 0", tiny_path()), "nothing to test"},
      {fmt::format("-m '{}' -p -5", tiny_path()), "out of range"},
      {fmt::format("-m '{}' -ctk q4_0", hd80_path()), "f32, f16, bf16"},
      {fmt::format("-m '{}' -ctv q8_0", hd80_path()), "f32, f16, bf16"},
      {"-m /nonexistent/model.gguf", "/nonexistent/model.gguf"},
  };
  for (const Case& c : cases) {
    const CommandResult r = run_command(fmt::format("{} bench -r 1 {}", strata(), c.args));
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find("strata bench: error:"), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << c.args << "\n" << r.output;
    // Validation happens before any row: no table, no crash, one line.
    EXPECT_EQ(r.output.find("| model"), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << c.args << "\n" << r.output;
  }
}

}  // namespace
}  // namespace strata
