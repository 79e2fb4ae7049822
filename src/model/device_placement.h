// Which layers run on which device inside one process, from llama.cpp's flags: -ngl N puts the
// last N layers on the GPU(s) and the rest on the CPU, --device lists the GPUs, -ts splits the
// GPU layers over them. Pure planning: nothing here opens a device, so it is testable anywhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "model/weights.h"

namespace strata::model {

enum class DeviceKind { kCpu, kCuda };

struct Device {
  DeviceKind kind = DeviceKind::kCpu;
  int index = 0;  // N of cuda:N; 0 for the CPU

  bool is_gpu() const { return kind == DeviceKind::kCuda; }
  std::string name() const;  // "cpu", "cuda:0"
  bool operator==(const Device&) const = default;
};

// "cpu", "cuda" (cuda:0) or "cuda:N"; the error names the text and the spellings that work.
Result<Device> parse_device(std::string_view text);

struct DevicePlacementRequest {
  uint32_t n_layer = 0;
  int64_t n_gpu_layers = 0;      // -ngl: layers on the GPU(s), counted from the last; >= n_layer: all
  std::string devices = "auto";  // --device: auto, cpu, or GPUs as a comma list (cuda:0,cuda:1)
  std::string tensor_split;      // -ts: empty (equal shares), or one positive ratio per GPU ("3,1")
};

struct DeviceStage {
  size_t device = 0;  // index into DevicePlacement::devices
  LayerRange layers;
};

struct DevicePlacement {
  // One backend each, in this order. devices[0] is the model's: it runs the embeddings and the
  // head, and hidden states live in its memory between stages (the first GPU when any layer is
  // on a GPU). A GPU named twice in --device is two entries, so two backends on one card.
  std::vector<Device> devices;
  // In layer order, together covering every layer; one per device that has layers.
  std::vector<DeviceStage> stages;

  bool uses_gpu() const { return !devices.empty() && devices.front().is_gpu(); }
  // One device with every layer: the model loads as one Stage on one backend, no bridging.
  bool single_device() const { return devices.size() == 1; }
  // Layers of device d (empty when it only runs the embeddings and head).
  LayerRange layers_of(size_t d) const;
  // Device indices in the order of their layers; the model's device last when it has none.
  std::vector<size_t> layer_order() const;
  // "cpu: layers 0-15; cuda:0: layers 16-31, embeddings and head", for logs and `strata check`.
  std::string to_text() const;
};

// Errors (each one line saying what works): -ngl negative, an unknown device name, cpu listed
// with other devices, -ngl > 0 with --device cpu, -ts with a ratio that is not a positive number,
// -ts with more or fewer ratios than GPUs in --device.
Result<DevicePlacement> place_on_devices(const DevicePlacementRequest& request);

// "3,1" or "3/1" -> {3, 1}; every ratio must be a positive number.
Result<std::vector<double>> parse_device_split(std::string_view text);

}  // namespace strata::model
