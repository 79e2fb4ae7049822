// place_on_devices: llama.cpp's -ngl (the last N layers on the GPUs), --device lists and -ts
// ratios to layer ranges per device, and the refusals, each naming the flag and what works.
#include "model/device_placement.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strata::model {
namespace {

struct Expected {
  std::string device;
  uint32_t begin;
  uint32_t end;
};

DevicePlacement place(uint32_t n_layer, int64_t ngl, const std::string& devices = "auto",
                      const std::string& split = "") {
  auto placed = place_on_devices({n_layer, ngl, devices, split});
  EXPECT_TRUE(placed.ok()) << placed.status().message();
  return placed.ok() ? *placed : DevicePlacement{};
}

// Stages in layer order as (device name, begin, end).
std::vector<Expected> stages_of(const DevicePlacement& p) {
  std::vector<Expected> out;
  for (const DeviceStage& s : p.stages) out.push_back({p.devices.at(s.device).name(), s.layers.begin, s.layers.end});
  return out;
}

void expect_stages(const DevicePlacement& p, const std::vector<Expected>& expected) {
  const auto got = stages_of(p);
  ASSERT_EQ(got.size(), expected.size()) << p.to_text();
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].device, expected[i].device) << "stage " << i << ": " << p.to_text();
    EXPECT_EQ(got[i].begin, expected[i].begin) << "stage " << i << ": " << p.to_text();
    EXPECT_EQ(got[i].end, expected[i].end) << "stage " << i << ": " << p.to_text();
  }
}

std::string refusal(uint32_t n_layer, int64_t ngl, const std::string& devices, const std::string& split) {
  auto placed = place_on_devices({n_layer, ngl, devices, split});
  EXPECT_FALSE(placed.ok()) << "-ngl " << ngl << " --device " << devices << " -ts " << split << " was accepted: "
                            << (placed.ok() ? placed->to_text() : "");
  return placed.ok() ? std::string() : placed.status().message();
}

TEST(DevicePlacementTest, ParsesDeviceNames) {
  EXPECT_EQ(parse_device("cpu")->name(), "cpu");
  EXPECT_EQ(parse_device("cuda")->name(), "cuda:0");
  EXPECT_EQ(parse_device("cuda:3")->name(), "cuda:3");
  EXPECT_TRUE(parse_device("cuda:3")->is_gpu());
  for (const char* bad : {"gpu", "cuda:", "cuda:-1", "cuda:1x", "CUDA:0", "", "auto", "cuda:0 "}) {
    auto parsed = parse_device(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find("cuda:N"), std::string::npos) << parsed.status().message();
  }
}

TEST(DevicePlacementTest, NoGpuLayersIsOneCpuStage) {
  for (const char* devices : {"auto", "cpu", "cuda:1", "cuda:0,cuda:1"}) {
    const DevicePlacement p = place(32, 0, devices);
    ASSERT_EQ(p.devices.size(), 1u) << devices;
    EXPECT_EQ(p.devices[0].name(), "cpu");
    EXPECT_TRUE(p.single_device());
    EXPECT_FALSE(p.uses_gpu());
    expect_stages(p, {{"cpu", 0, 32}});
  }
}

TEST(DevicePlacementTest, AllLayersOnOneGpuIsOneStageWithoutBridges) {
  for (int64_t ngl : {32, 33, 999}) {
    const DevicePlacement p = place(32, ngl);
    EXPECT_TRUE(p.single_device());
    EXPECT_TRUE(p.uses_gpu());
    expect_stages(p, {{"cuda:0", 0, 32}});
  }
  expect_stages(place(32, 99, "cuda:2"), {{"cuda:2", 0, 32}});
  expect_stages(place(32, 99, "cuda"), {{"cuda:0", 0, 32}});
  expect_stages(place(32, 99, "auto", "5"), {{"cuda:0", 0, 32}});
}

TEST(DevicePlacementTest, PartialNglPutsTheLastLayersOnTheGpu) {
  const DevicePlacement p = place(32, 20);
  ASSERT_EQ(p.devices.size(), 2u);
  EXPECT_EQ(p.devices[0].name(), "cuda:0");  // the model's device: embeddings and head
  EXPECT_EQ(p.devices[1].name(), "cpu");
  EXPECT_TRUE(p.uses_gpu());
  EXPECT_FALSE(p.single_device());
  expect_stages(p, {{"cpu", 0, 12}, {"cuda:0", 12, 32}});
  EXPECT_EQ(p.to_text(), "cpu: layers 0-11; cuda:0: layers 12-31, embeddings and head");
  EXPECT_EQ(p.layers_of(0).begin, 12u);
  EXPECT_EQ(p.layers_of(1).end, 12u);

  expect_stages(place(2, 1), {{"cpu", 0, 1}, {"cuda:0", 1, 2}});
}

TEST(DevicePlacementTest, TensorSplitDividesTheGpuLayersInRatio) {
  // -ts alone names cuda:0..k-1.
  expect_stages(place(32, 99, "auto", "1,1"), {{"cuda:0", 0, 16}, {"cuda:1", 16, 32}});
  expect_stages(place(32, 99, "auto", "3,1"), {{"cuda:0", 0, 24}, {"cuda:1", 24, 32}});
  expect_stages(place(30, 99, "auto", "1/1/1"), {{"cuda:0", 0, 10}, {"cuda:1", 10, 20}, {"cuda:2", 20, 30}});
  // Only the GPU layers are split; the CPU keeps the first ones.
  expect_stages(place(32, 16, "auto", "1,3"), {{"cpu", 0, 16}, {"cuda:0", 16, 20}, {"cuda:1", 20, 32}});
  // A --device list without -ts: equal shares, in list order.
  expect_stages(place(10, 99, "cuda:1,cuda:0"), {{"cuda:1", 0, 5}, {"cuda:0", 5, 10}});
  const DevicePlacement listed = place(10, 99, "cuda:1,cuda:0");
  EXPECT_EQ(listed.devices[0].name(), "cuda:1");  // the first listed is the model's
  // Fractions: 7 layers as 0.5, 0.25, 0.25 rounds at the cumulative boundaries.
  expect_stages(place(7, 7, "auto", "2,1,1"), {{"cuda:0", 0, 4}, {"cuda:1", 4, 5}, {"cuda:2", 5, 7}});
}

TEST(DevicePlacementTest, OneGpuTwiceIsTwoDevices) {
  const DevicePlacement p = place(4, 4, "cuda:0,cuda:0", "1,1");
  ASSERT_EQ(p.devices.size(), 2u);
  EXPECT_EQ(p.devices[0], p.devices[1]);
  expect_stages(p, {{"cuda:0", 0, 2}, {"cuda:0", 2, 4}});
  EXPECT_EQ(p.stages[0].device, 0u);
  EXPECT_EQ(p.stages[1].device, 1u);

  expect_stages(place(4, 2, "cuda:0,cuda:0", "1,1"), {{"cpu", 0, 2}, {"cuda:0", 2, 3}, {"cuda:0", 3, 4}});
}

TEST(DevicePlacementTest, AGpuWithoutLayersIsLeftOutUnlessItIsTheModels) {
  // 2 GPU layers over 3 equal GPUs: boundaries at 0.67 -> 1 and 1.33 -> 1, so cuda:1 gets none.
  const DevicePlacement p = place(8, 2, "auto", "1,1,1");
  expect_stages(p, {{"cpu", 0, 6}, {"cuda:0", 6, 7}, {"cuda:2", 7, 8}});
  ASSERT_EQ(p.devices.size(), 3u);
  EXPECT_EQ(p.devices[0].name(), "cuda:0");
  // The first GPU's ratio rounds to no layers: it still runs the embeddings and head.
  const DevicePlacement q = place(4, 4, "auto", "1,100");
  expect_stages(q, {{"cuda:1", 0, 4}});
  ASSERT_EQ(q.devices.size(), 2u);
  EXPECT_EQ(q.devices[0].name(), "cuda:0");
  EXPECT_EQ(q.layers_of(0).size(), 0u);
  EXPECT_FALSE(q.single_device());
  EXPECT_EQ(q.to_text(), "cuda:1: layers 0-3; cuda:0: embeddings and head");
}

TEST(DevicePlacementTest, RefusalsNameTheFlagAndWhatWorks) {
  std::string m = refusal(32, -1, "auto", "");
  EXPECT_NE(m.find("-ngl -1 is negative"), std::string::npos) << m;
  m = refusal(32, 4, "cpu", "");
  EXPECT_NE(m.find("--device is cpu"), std::string::npos) << m;
  m = refusal(32, 4, "cuda:0,cpu", "");
  EXPECT_NE(m.find("list only the GPUs"), std::string::npos) << m;
  m = refusal(32, 4, "cuda:0,,cuda:1", "");
  EXPECT_NE(m.find("'' is not a device"), std::string::npos) << m;
  m = refusal(32, 4, "vulkan:0", "");
  EXPECT_NE(m.find("'vulkan:0' is not a device; use cpu, cuda or cuda:N"), std::string::npos) << m;
  // More ratios than GPUs, fewer, and ratios that are not positive numbers.
  m = refusal(32, 99, "cuda:0", "1,1");
  EXPECT_NE(m.find("-ts 1,1 gives 2 ratios for 1 GPU(s)"), std::string::npos) << m;
  m = refusal(32, 99, "cuda:0,cuda:1,cuda:2", "1,1");
  EXPECT_NE(m.find("one ratio per GPU"), std::string::npos) << m;
  for (const char* bad : {"1,0", "1,-1", "1,x", "1,,1", "nan,1", "inf"}) {
    m = refusal(32, 99, "auto", bad);
    EXPECT_NE(m.find("is not a positive ratio"), std::string::npos) << bad << ": " << m;
  }
  // Bad -ts is refused even when no layer goes to a GPU.
  EXPECT_FALSE(place_on_devices({32, 0, "auto", "0"}).ok());
  EXPECT_FALSE(place_on_devices({0, 0, "auto", ""}).ok());
}

}  // namespace
}  // namespace strata::model
