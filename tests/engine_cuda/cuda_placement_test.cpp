// Placement inside one process on a GPU, end to end through `strata run`: -ngl n_layer/2 (the
// first layers on the CPU, bridged to the GPU) and -ts 1,1 over two CUDA backends on cuda:0
// (the multi-GPU path on one card) give the logits of the whole model on the GPU (-ngl 99),
// for a short prompt (decode kernels and step graphs) and a long one (prefill kernels), and
// the same greedy tokens. f32 weights keep CPU and GPU arithmetic within 1e-3 of the largest
// logit, as the long-run test's restart check; the -ts run uses the very same kernels, so it
// must agree to 1e-5. Skips when the build has no CUDA or the machine no GPU.
#include <gtest/gtest.h>

#ifndef STRATA_HAVE_CUDA

TEST(CudaPlacement, NotBuilt) {
  GTEST_SKIP() << "built without the CUDA backend (configure with -DSTRATA_CUDA=ON where nvcc is installed)";
}

#else

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "model/tiny_model.h"
#include "support/fixtures.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace strata {
namespace {

struct RunOutput {
  std::vector<float> logits;  // n_prompt x n_vocab
  std::vector<int32_t> generated;
};

class CudaPlacementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (backend::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
    testing::TinySpec spec;
    spec.n_layer = 4;
    spec.n_embd = 256;  // head size 64, the smallest the CUDA attention kernels take
    spec.n_head = 4;
    spec.n_head_kv = 2;
    spec.n_ff = 512;
    spec.n_vocab = 256;
    model_ = testing::write_tiny_model(spec, dir_.path()).string();
  }

  // `strata run` with greedy sampling; the prompt's logits through --logits-out.
  RunOutput run(const std::string& placement, const std::string& tokens, const std::string& name) {
    const std::string logits_path = (dir_.path() / (name + ".f32")).string();
    const std::string command =
        fmt::format("'{}' run -m '{}' --tokens {} -n 8 --temp 0 --ignore-eos -c 256 -t 2 --json --logits-out '{}' {}",
                    testing::strata_binary().string(), model_, tokens, logits_path, placement);
    const testing::CommandResult r = testing::run_command(command);
    EXPECT_EQ(r.exit_code, 0) << command << "\n" << r.output;
    RunOutput out;
    const size_t start = r.output.rfind("\n{");
    const nlohmann::json j = nlohmann::json::parse(
        start == std::string::npos ? r.output : r.output.substr(start + 1), nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(j.is_object()) << command << "\n" << r.output;
    if (j.is_object()) out.generated = j["generated"].get<std::vector<int32_t>>();
    std::ifstream in(logits_path, std::ios::binary);
    in.seekg(0, std::ios::end);
    out.logits.resize(static_cast<size_t>(in.tellg()) / sizeof(float));
    in.seekg(0);
    const auto bytes = static_cast<std::streamsize>(out.logits.size() * sizeof(float));
    in.read(reinterpret_cast<char*>(out.logits.data()), bytes);
    return out;
  }

  // Largest |a - b| relative to the largest |a|; every value finite.
  static double relative_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double worst = 0, scale = 1e-30;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      EXPECT_TRUE(std::isfinite(a[i]) && std::isfinite(b[i])) << "logit " << i;
      worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
      scale = std::max(scale, std::fabs(static_cast<double>(a[i])));
    }
    return worst / scale;
  }

  testing::TempDir dir_;
  std::string model_;
};

TEST_F(CudaPlacementTest, CpuPlusGpuAndTwoBackendsOnOneGpuMatchTheWholeModelOnTheGpu) {
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += fmt::format("{}{}", i == 0 ? "" : ",", (i * 37 + 11) % 256);
  for (const std::string& prompt : {std::string("1,17,42,5,88,63"), long_prompt}) {
    SCOPED_TRACE("prompt " + prompt);
    const RunOutput gpu = run("-ngl 99", prompt, "gpu");
    const auto n_prompt = static_cast<size_t>(std::count(prompt.begin(), prompt.end(), ',')) + 1;
    ASSERT_EQ(gpu.logits.size(), n_prompt * 256);
    ASSERT_EQ(gpu.generated.size(), 8u);

    const RunOutput split = run("-ngl 2", prompt, "split");
    const double split_diff = relative_diff(gpu.logits, split.logits);
    EXPECT_LT(split_diff, 1e-3) << "-ngl 2 (layers 0-1 on the CPU, 2-3 on cuda:0)";
    EXPECT_EQ(split.generated, gpu.generated);

    const RunOutput two = run("--device cuda:0,cuda:0 -ts 1,1 -ngl 99", prompt, "two");
    const double two_diff = relative_diff(gpu.logits, two.logits);
    EXPECT_LT(two_diff, 1e-5) << "-ts 1,1 (layers 0-1 and 2-3 on two backends of cuda:0)";
    EXPECT_EQ(two.generated, gpu.generated);

    const RunOutput all_three = run("--device cuda:0,cuda:0 -ts 1,1 -ngl 3", prompt, "three");
    EXPECT_LT(relative_diff(gpu.logits, all_three.logits), 1e-3) << "-ngl 3 -ts 1,1 (CPU, then two backends)";
    EXPECT_EQ(all_three.generated, gpu.generated);
    std::printf("[ placement ] prompt of %zu tokens: -ngl 2 differs by %.3g, -ts 1,1 by %.3g of the largest logit\n",
                gpu.logits.size() / 256, split_diff, two_diff);
  }
}

TEST_F(CudaPlacementTest, CheckReportsTheFreeMemoryOfEachGpu) {
  const std::string command = fmt::format("'{}' check -m '{}' -c 256 -t 2 -ngl 2 --device cuda:0,cuda:0 -ts 1,1 --json",
                                          testing::strata_binary().string(), model_);
  const testing::CommandResult r = testing::run_command(command);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const size_t start = r.output.find("{\n");
  ASSERT_NE(start, std::string::npos) << r.output;
  const nlohmann::json j = nlohmann::json::parse(r.output.substr(start), nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.output;
  ASSERT_EQ(j["devices"].size(), 3u) << r.output;
  for (const nlohmann::json& d : j["devices"]) {
    EXPECT_GT(d["memory_available"].get<uint64_t>(), 0u) << d.dump();
  }
  EXPECT_TRUE(j["supported"].get<bool>()) << r.output;
}

}  // namespace
}  // namespace strata

#endif  // STRATA_HAVE_CUDA
