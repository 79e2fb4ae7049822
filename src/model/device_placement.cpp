// place_on_devices(): -ngl, --device and -ts to layer ranges per device, as llama.cpp reads them.
#include "model/device_placement.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace strata::model {
namespace {

constexpr std::string_view kDeviceSpellings = "use cpu, cuda or cuda:N with N = 0, 1, ...";

std::vector<std::string_view> split_list(std::string_view text, std::string_view separators) {
  std::vector<std::string_view> items;
  size_t pos = 0;
  while (true) {
    const size_t end = text.find_first_of(separators, pos);
    items.push_back(text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return items;
}

std::string range_text(LayerRange r) {
  return r.size() == 1 ? fmt::format("layer {}", r.begin) : fmt::format("layers {}-{}", r.begin, r.end - 1);
}

// The GPUs the layers on the GPU go to: --device as given, else cuda:0, or cuda:0..k-1 when -ts
// has k ratios (llama.cpp's default of every visible GPU, made explicit by the ratios).
Result<std::vector<Device>> gpu_list(const DevicePlacementRequest& request, size_t n_ratios) {
  std::vector<Device> gpus;
  if (request.devices == "auto") {
    const size_t n = n_ratios > 0 ? n_ratios : 1;
    for (size_t i = 0; i < n; ++i) gpus.push_back({DeviceKind::kCuda, static_cast<int>(i)});
    return gpus;
  }
  const std::vector<std::string_view> items = split_list(request.devices, ",");
  for (std::string_view item : items) {
    STRATA_ASSIGN_OR_RETURN(const Device device, parse_device(item));
    if (!device.is_gpu() && items.size() > 1) {
      return invalid_argument("--device {} lists cpu with other devices; list only the GPUs (e.g. cuda:0,cuda:1): "
                              "the layers -ngl leaves off them run on the CPU",
                              request.devices);
    }
    gpus.push_back(device);
  }
  return gpus;
}

}  // namespace

std::string Device::name() const { return is_gpu() ? fmt::format("cuda:{}", index) : std::string("cpu"); }

Result<Device> parse_device(std::string_view text) {
  if (text == "cpu") return Device{DeviceKind::kCpu, 0};
  if (text == "cuda") return Device{DeviceKind::kCuda, 0};
  if (text.rfind("cuda:", 0) == 0) {
    int index = -1;
    const char* first = text.data() + 5;
    const char* last = text.data() + text.size();
    const auto [end, ec] = std::from_chars(first, last, index);
    if (ec == std::errc() && end == last && first != last && index >= 0) return Device{DeviceKind::kCuda, index};
  }
  return invalid_argument("--device '{}' is not a device; {}", text, kDeviceSpellings);
}

Result<std::vector<double>> parse_device_split(std::string_view text) {
  std::vector<double> ratios;
  for (std::string_view item : split_list(text, ",/")) {
    const std::string s(item);
    char* stop = nullptr;
    const double value = std::strtod(s.c_str(), &stop);
    if (s.empty() || stop != s.c_str() + s.size() || !std::isfinite(value) || value <= 0) {
      return invalid_argument("-ts {}: '{}' is not a positive ratio; give one number above 0 per GPU, such as 3,1 "
                              "(to leave a GPU out, leave it out of --device)",
                              text, s);
    }
    ratios.push_back(value);
  }
  return ratios;
}

LayerRange DevicePlacement::layers_of(size_t d) const {
  for (const DeviceStage& s : stages) {
    if (s.device == d) return s.layers;
  }
  return {};
}

std::vector<size_t> DevicePlacement::layer_order() const {
  std::vector<size_t> order;
  for (const DeviceStage& s : stages) order.push_back(s.device);
  if (layers_of(0).size() == 0 && !devices.empty()) order.push_back(0);
  return order;
}

std::string DevicePlacement::to_text() const {
  std::string out;
  for (size_t d : layer_order()) {
    std::string what;
    const LayerRange r = layers_of(d);
    if (r.size() > 0) what = range_text(r);
    if (d == 0) what += what.empty() ? "embeddings and head" : ", embeddings and head";
    out += fmt::format("{}{}: {}", out.empty() ? "" : "; ", devices[d].name(), what);
  }
  return out;
}

Result<DevicePlacement> place_on_devices(const DevicePlacementRequest& request) {
  const int64_t ngl = request.n_gpu_layers;
  if (ngl < 0) {
    return invalid_argument("-ngl {} is negative; give the number of layers to put on the GPU (0: none, 999: all)",
                            ngl);
  }
  if (request.n_layer == 0) return invalid_argument("the model has no layers to place");
  std::vector<double> ratios;
  if (!request.tensor_split.empty()) {
    STRATA_ASSIGN_OR_RETURN(ratios, parse_device_split(request.tensor_split));
  }
  STRATA_ASSIGN_OR_RETURN(const std::vector<Device> gpus, gpu_list(request, ratios.size()));
  const bool cpu_only_device = gpus.size() == 1 && !gpus.front().is_gpu();
  if (cpu_only_device && ngl > 0) {
    return invalid_argument("-ngl {} asks for GPU layers but --device is cpu; drop one of them", ngl);
  }
  if (!ratios.empty() && !cpu_only_device && ratios.size() != gpus.size()) {
    if (ratios.size() > gpus.size()) {
      return invalid_argument("-ts {} gives {} ratios for {} GPU(s) (--device {}); give one ratio per GPU, or name "
                              "more GPUs in --device",
                              request.tensor_split, ratios.size(), gpus.size(), request.devices);
    }
    return invalid_argument("-ts {} gives {} ratio(s) for the {} GPUs of --device {}; give one ratio per GPU",
                            request.tensor_split, ratios.size(), gpus.size(), request.devices);
  }

  DevicePlacement placement;
  const uint32_t n_layer = request.n_layer;
  if (ngl == 0) {
    placement.devices.push_back({DeviceKind::kCpu, 0});
    placement.stages.push_back({0, {0, n_layer}});
    return placement;
  }

  // llama.cpp's order: the first layers stay on the CPU, the last n_gpu on the GPUs in list order.
  const auto n_gpu = static_cast<uint32_t>(std::min<int64_t>(ngl, n_layer));
  const uint32_t n_cpu = n_layer - n_gpu;
  if (ratios.empty()) ratios.assign(gpus.size(), 1.0);
  double total = 0;
  for (double r : ratios) total += r;
  double cumulative = 0;
  uint32_t begin = n_cpu;
  for (size_t g = 0; g < gpus.size(); ++g) {
    cumulative += ratios[g];
    auto end = n_cpu + static_cast<uint32_t>(std::llround(n_gpu * cumulative / total));
    if (g + 1 == gpus.size() || end > n_layer) end = n_layer;
    if (end < begin) end = begin;
    // The first GPU is the model's device even without layers of its own (embeddings, head).
    if (end > begin || g == 0) {
      placement.devices.push_back(gpus[g]);
      if (end > begin) placement.stages.push_back({placement.devices.size() - 1, {begin, end}});
    }
    begin = end;
  }
  if (n_cpu > 0) {
    placement.devices.push_back({DeviceKind::kCpu, 0});
    placement.stages.insert(placement.stages.begin(), DeviceStage{placement.devices.size() - 1, {0, n_cpu}});
  }
  return placement;
}

}  // namespace strata::model
