// -ngl / --device / -ts end to end: every command that loads a model refuses a bad placement
// with exit 1 and one line naming the flag; a build without CUDA refuses GPU layers (a split
// too) the same way; `strata check` prints the plan per device before refusing it; -ts without
// --worker is the local split, and workers with a local split are refused.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
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

class PlacementTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<testing::TempDir>();
    // tiny: 4 layers.
    const CommandResult tiny = run_command(fmt::format("{} synth --preset tiny -o '{}'", strata(), tiny_path()));
    ASSERT_EQ(tiny.exit_code, 0) << tiny.output;
  }
  static void TearDownTestSuite() { dir_.reset(); }
  static std::string tiny_path() { return (*dir_ / "tiny.gguf").string(); }

  // `strata COMMAND -m tiny ARGS` (plus what the command needs to stop on its own).
  static std::string command_line(const std::string& command, const std::string& args) {
    std::string extra;
    if (command == "run") extra = " --tokens 1,2,3 -n 1 -t 1";
    if (command == "bench") extra = " -p 4 -n 1 -r 1 -t 1";
    if (command == "serve") extra = " --port 0 -t 1";
    return fmt::format("{} {} -m '{}'{} {}", strata(), command, tiny_path(), extra, args);
  }

  // Exit 1 and exactly one line, the error, containing every needle.
  static void expect_refused(const std::string& command, const std::string& args,
                             const std::vector<std::string>& needles) {
    const CommandResult r = run_command(command_line(command, args));
    EXPECT_EQ(r.exit_code, 1) << command << " " << args << "\n" << r.output;
    std::string line = r.output;
    while (!line.empty() && line.back() == '\n') line.pop_back();
    EXPECT_EQ(line.find('\n'), std::string::npos) << "more than one line for " << command << " " << args << ":\n"
                                                  << r.output;
    EXPECT_EQ(line.rfind("strata " + command + ": error: ", 0), 0u) << line;
    for (const std::string& needle : needles) {
      EXPECT_NE(line.find(needle), std::string::npos) << command << " " << args << ": " << line;
    }
  }

  static inline std::unique_ptr<testing::TempDir> dir_;
};

const std::vector<std::string> kLoadingCommands = {"run", "bench", "serve", "check"};

TEST_F(PlacementTest, BadPlacementsAreRefusedByEveryCommandInEveryBuild) {
  // These are refused before any device is opened, so a CUDA build on a GPU machine agrees.
  struct Case {
    std::string args;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {"-ngl 4 --device cuda:0 -ts 1,1", {"-ts 1,1 gives 2 ratios for 1 GPU(s)", "one ratio per GPU"}},
      {"-ngl 4 -ts 1,0", {"-ts 1,0: '0' is not a positive ratio"}},
      {"-ngl 4 -ts 2,-1", {"'-1' is not a positive ratio"}},
      {"-ngl 4 --device cuda:0,cuda:1,cuda:2 -ts 1,1", {"2 ratio(s) for the 3 GPUs"}},
      {"-ngl 2 --device cpu", {"-ngl 2 asks for GPU layers but --device is cpu"}},
      {"-ngl 2 --device cuda:0,cpu", {"list only the GPUs"}},
      {"-ngl 2 --device npu:0", {"'npu:0' is not a device", "cuda:N"}},
      {"-ngl -1", {"-ngl -1 is negative"}},
  };
  for (const std::string& command : kLoadingCommands) {
    for (const Case& c : cases) expect_refused(command, c.args, c.needles);
  }
}

TEST_F(PlacementTest, WorkersWithALocalSplitAreRefused) {
  // Refused before any worker is contacted (nothing listens on port 1).
  for (const char* command : {"bench", "serve", "check"}) {
    expect_refused(command, "--worker 127.0.0.1:1 -ngl 2", {"-ngl 2 splits this process's 4 layers", "--worker"});
    expect_refused(command, "--worker 127.0.0.1:1 -ngl 4 --device cuda:0,cuda:1",
                   {"on 2 GPUs", "with --worker this process uses one device"});
  }
}

TEST_F(PlacementTest, TensorSplitWithoutWorkersIsTheLocalSplit) {
  // Without GPU layers it only has to be well formed (it used to be refused as "no --worker").
  const CommandResult r = run_command(command_line("check", "-ts 1,1 -t 1"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\nsupported\n"), std::string::npos) << r.output;
}

#ifndef STRATA_HAVE_CUDA

TEST_F(PlacementTest, GpuLayersWithoutCudaAreRefusedWithOneLine) {
  for (const char* command : {"run", "bench", "serve"}) {
    for (const char* args : {"-ngl 2", "-ngl 99", "-ngl 2 -ts 1,1", "-ngl 4 --device cuda:0,cuda:0 -ts 1,1"}) {
      expect_refused(command, args, {"built without the CUDA backend", "-ngl 0"});
    }
  }
  const CommandResult worker = run_command(fmt::format("{} worker --device cuda:0 --port 0", strata()));
  EXPECT_EQ(worker.exit_code, 1) << worker.output;
  EXPECT_NE(worker.output.find("built without the CUDA backend"), std::string::npos) << worker.output;
  const CommandResult list = run_command(fmt::format("{} worker --device cuda:0,cuda:1 --port 0", strata()));
  EXPECT_EQ(list.exit_code, 1) << list.output;
  EXPECT_NE(list.output.find("one device"), std::string::npos) << list.output;
}

TEST_F(PlacementTest, CheckPrintsThePlanPerDeviceThenRefusesWithoutCuda) {
  const CommandResult r =
      run_command(command_line("check", "-c 1024 -t 1 -ngl 3 --device cuda:0,cuda:0 -ts 2,1 --json"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const size_t start = r.output.find("{\n");
  const size_t end = r.output.rfind("\n}");
  ASSERT_NE(start, std::string::npos) << r.output;
  const json j = json::parse(r.output.substr(start, end + 2 - start), nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.output;
  EXPECT_FALSE(j["supported"].get<bool>());
  EXPECT_NE(j["reason"].get<std::string>().find("built without the CUDA backend"), std::string::npos) << j.dump();
  EXPECT_EQ(j["placement"], "cpu: layer 0; cuda:0: layers 1-2, embeddings and head; cuda:0: layer 3");
  ASSERT_EQ(j["devices"].size(), 3u);
  // In layer order: the CPU's first layer, then the two entries on cuda:0.
  const json& cpu = j["devices"][0];
  EXPECT_EQ(cpu["device"], "cpu");
  EXPECT_EQ(cpu["layers"], json::array({0, 1}));
  EXPECT_GT(cpu["memory_available"].get<uint64_t>(), 0u);
  const json& main = j["devices"][1];
  EXPECT_EQ(main["device"], "cuda:0");
  EXPECT_EQ(main["layers"], json::array({1, 3}));
  EXPECT_TRUE(main["embeddings_and_head"].get<bool>());
  EXPECT_TRUE(main["memory_available"].is_null());
  EXPECT_NE(main["memory_unknown_reason"].get<std::string>().find("without the CUDA backend"), std::string::npos);
  const json& second = j["devices"][2];
  EXPECT_EQ(second["layers"], json::array({3, 4}));
  EXPECT_FALSE(second["embeddings_and_head"].get<bool>());
  // Each layer's weights and KV are counted once; the head's weights on the model's device.
  uint64_t weights = 0;
  uint64_t kv = 0;
  for (const json& d : j["devices"]) {
    weights += d["weights_bytes"].get<uint64_t>();
    kv += d["kv_bytes"].get<uint64_t>();
    EXPECT_EQ(d["total_bytes"].get<uint64_t>(), d["weights_bytes"].get<uint64_t>() + d["kv_bytes"].get<uint64_t>() +
                                                    d["scratch_bytes"].get<uint64_t>());
  }
  EXPECT_EQ(weights, 6824960u);              // the tensor data of the f16 tiny model
  EXPECT_EQ(kv, 1024u * 4 * 2 * 128 * 2);    // 1024 cells x 4 layers x K and V x 128 values x f16
  EXPECT_EQ(cpu["kv_bytes"].get<uint64_t>(), kv / 4);
  EXPECT_EQ(main["kv_bytes"].get<uint64_t>(), kv / 2);

  // The text form: one block per device, and the one error line on stderr.
  const CommandResult text = run_command(command_line("check", "-c 1024 -t 1 -ngl 2"));
  EXPECT_EQ(text.exit_code, 1) << text.output;
  EXPECT_NE(text.output.find("layers:   cpu: layers 0-1; cuda:0: layers 2-3, embeddings and head"), std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("device cuda:0 (not opened): free memory unknown"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("device CPU ("), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("strata check: error: devices: -ngl 2: this strata was built without the CUDA backend"),
            std::string::npos)
      << text.output;
}

#endif  // STRATA_HAVE_CUDA

}  // namespace
}  // namespace strata
