// Test helpers: what a coordinator sends a worker for a stage of a local model file, built
// the way dist::RemoteStage builds it (identity fields of a Prepare, tensor bytes of an Upload).
#pragma once

#include <string>

#include "dist/stage_identity.h"
#include "dist/proto/worker.pb.h"
#include "gguf/file.h"

namespace strata::testing {

// A Prepare naming the stage by its hashes and layers; the caller sets the KV settings.
inline dist::v1::PrepareRequest prepare_request(const gguf::File& file, model::LayerRange range) {
  const dist::StageIdentity id = *dist::stage_identity(file, range);
  dist::v1::PrepareRequest r;
  r.set_content_hash(id.content.hex());
  r.set_shape_hash(id.shape.hex());
  r.set_layer_begin(range.begin);
  r.set_layer_end(range.end);
  return r;
}

// The stage's tensor bytes in the order the coordinator streams them.
inline std::string stage_data(const gguf::File& file, model::LayerRange range) {
  std::string out;
  const auto tensors = dist::stage_tensors(file, range);  // kept: the loop must not outlive it
  for (const auto* t : *tensors) out.append(reinterpret_cast<const char*>(t->data.data()), t->data.size());
  return out;
}

}  // namespace strata::testing
