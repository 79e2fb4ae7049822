// Model identity of a stage: a hash of its layers' tensors and the metadata they depend on, the
// same whether computed from a whole GGUF, a worker's local copy or a cached stage file.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/content_hash.h"
#include "core/status.h"
#include "gguf/file.h"
#include "model/weights.h"

namespace strata::dist {

struct StageIdentity {
  Hash128 shape;    // metadata + tensor names, types and dims: cheap, filters candidate files
  Hash128 content;  // shape + every byte of the tensors: what a worker must match
  uint64_t tensor_bytes = 0;
};

// The tensors a stage computes with: blk.<i>.* for i in the range, and rope_freqs.weight when
// present, sorted by name. Error when the range lies outside the file's block count.
Result<std::vector<const gguf::TensorInfo*>> stage_tensors(const gguf::File& file, model::LayerRange range);

// general.architecture and every <arch>.* key but <arch>.vocab_size (a stage does not use it,
// and a stage file adds it), sorted by key.
std::vector<const std::pair<std::string, gguf::Value>*> stage_metadata(const gguf::File& file);

Result<Hash128> stage_shape_hash(const gguf::File& file, model::LayerRange range);
// Reads every tensor byte of the range (the whole stage once).
Result<StageIdentity> stage_identity(const gguf::File& file, model::LayerRange range);

// Parses 32 lowercase hex digits; anything else is an error (hashes name cache files).
Result<Hash128> parse_hash(std::string_view hex);

}  // namespace strata::dist
