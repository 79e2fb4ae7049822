// Which layers run where: the coordinator (embeddings, head and optionally the first layers)
// and each worker, from -ts ratios or from the memory each worker offers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "gguf/file.h"
#include "model/model.h"

namespace strata::dist {

struct NodePlacement {
  std::string node;            // "coordinator" or the worker's HOST:PORT
  model::LayerRange layers;    // empty (begin == end) when the node gets none
  uint64_t weight_bytes = 0;   // its layers' tensors (the coordinator's also embeddings and head)
  uint64_t kv_bytes = 0;
  uint64_t offered_bytes = 0;  // what a worker offers (--mem or free memory); 0 for the coordinator
};

struct Placement {
  std::vector<NodePlacement> nodes;  // coordinator first, then workers in the order given
  std::string to_text() const;       // one line per node, for `strata check` and logs
};

struct PlacementInput {
  std::vector<std::string> workers;      // HOST:PORT, in chain order
  std::vector<uint64_t> offered_bytes;   // per worker, from the handshake
  // Empty: layers in proportion to offered memory, none on the coordinator. One ratio per
  // worker, or one more in front for the coordinator (llama.cpp's -ts "3,1").
  std::vector<double> tensor_split;
};

// Errors: ratios that are negative or all zero, a count that matches neither form, a worker whose
// layers and KV cache exceed what it offers (naming it, what it needs and what it has).
Result<Placement> place_layers(const gguf::File& file, const model::ModelConfig& config, const PlacementInput& input);

// "3,1" or "3/1" -> {3, 1}.
Result<std::vector<double>> parse_tensor_split(std::string_view text);

}  // namespace strata::dist
