// Layer placement over the coordinator and the workers.
#include "dist/placement.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "dist/stage_identity.h"
#include "kv/kv_memory.h"
#include "model/hparams.h"

namespace strata::dist {
namespace {

double mib(uint64_t bytes) { return static_cast<double>(bytes) / 1048576.0; }

}  // namespace

std::string Placement::to_text() const {
  std::string out;
  for (const NodePlacement& n : nodes) {
    const std::string layers = n.layers.size() == 0 ? std::string("no layers")
                                                    : fmt::format("layers {}-{}", n.layers.begin, n.layers.end - 1);
    out += fmt::format("{:<24} {:<16} weights {:>9.1f} MiB  KV {:>8.1f} MiB", n.node, layers, mib(n.weight_bytes),
                       mib(n.kv_bytes));
    if (n.offered_bytes != 0) out += fmt::format("  offers {:.1f} MiB", mib(n.offered_bytes));
    out += "\n";
  }
  return out;
}

Result<std::vector<double>> parse_tensor_split(std::string_view text) {
  std::vector<double> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find_first_of(",/", pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string item(text.substr(pos, end - pos));
    char* stop = nullptr;
    const double value = std::strtod(item.c_str(), &stop);
    if (item.empty() || stop != item.c_str() + item.size() || !std::isfinite(value) || value < 0) {
      return invalid_argument("-ts '{}': '{}' is not a ratio; give non-negative numbers such as 3,1", text, item);
    }
    out.push_back(value);
    pos = end + 1;
  }
  return out;
}

Result<Placement> place_layers(const gguf::File& file, const model::ModelConfig& config, const PlacementInput& input) {
  STRATA_ASSIGN_OR_RETURN(model::HParams hp, model::read_hparams(file));
  const size_t n_workers = input.workers.size();
  if (n_workers == 0) return invalid_argument("no workers given; add --worker HOST:PORT");
  if (input.offered_bytes.size() != n_workers) return internal_error("placement: memory of {} workers for {}", input.offered_bytes.size(), n_workers);

  // Node 0 is the coordinator.
  std::vector<double> ratios(n_workers + 1, 0.0);
  if (input.tensor_split.empty()) {
    for (size_t w = 0; w < n_workers; ++w) ratios[w + 1] = static_cast<double>(input.offered_bytes[w]);
  } else if (input.tensor_split.size() == n_workers) {
    for (size_t w = 0; w < n_workers; ++w) ratios[w + 1] = input.tensor_split[w];
  } else if (input.tensor_split.size() == n_workers + 1) {
    ratios = input.tensor_split;
  } else {
    return invalid_argument("-ts gives {} ratios for {} workers; give one per worker, or one more in front for this "
                            "machine",
                            input.tensor_split.size(), n_workers);
  }
  double total = 0;
  for (double r : ratios) {
    if (r < 0 || !std::isfinite(r)) return invalid_argument("-ts ratios must be non-negative numbers");
    total += r;
  }
  if (total <= 0) {
    return invalid_argument("no node gets any layers (the -ts ratios, or the memory the workers offer, are all 0)");
  }

  const kv::KvShape layer_shape{1, hp.n_head_kv, hp.head_dim_k, hp.head_dim_v};
  STRATA_ASSIGN_OR_RETURN(kv::KvMemory kv_one_layer, kv::estimate_kv_memory(layer_shape, config.kv));

  Placement placement;
  double cumulative = 0;
  uint32_t begin = 0;
  for (size_t i = 0; i < ratios.size(); ++i) {
    cumulative += ratios[i];
    auto end = static_cast<uint32_t>(std::llround(hp.n_layer * cumulative / total));
    if (i + 1 == ratios.size()) end = hp.n_layer;
    if (end < begin) end = begin;
    NodePlacement node;
    node.node = i == 0 ? std::string("coordinator") : input.workers[i - 1];
    node.layers = {begin, end};
    node.offered_bytes = i == 0 ? 0 : input.offered_bytes[i - 1];
    if (end > begin) {
      STRATA_ASSIGN_OR_RETURN(auto tensors, stage_tensors(file, node.layers));
      for (const auto* t : tensors) node.weight_bytes += t->n_bytes;
      node.kv_bytes = kv_one_layer.total_bytes() * node.layers.size();
    }
    if (i == 0) {
      for (const char* name : {"token_embd.weight", "output_norm.weight", "output.weight"}) {
        if (const auto* t = file.find_tensor(name); t != nullptr) node.weight_bytes += t->n_bytes;
      }
    } else if (node.weight_bytes + node.kv_bytes > node.offered_bytes) {
      return resource_exhausted(
          "worker {} would get layers {}-{}, which need {:.1f} MiB (weights {:.1f} + KV {:.1f}), but it offers {:.1f} "
          "MiB; give it more --mem, change -ts or add workers",
          node.node, begin, end - 1, mib(node.weight_bytes + node.kv_bytes), mib(node.weight_bytes),
          mib(node.kv_bytes), mib(node.offered_bytes));
    }
    placement.nodes.push_back(node);
    begin = end;
  }
  return placement;
}

}  // namespace strata::dist
