// BridgedStage: hidden states through host memory between the model's backend and the stage's.
//
// Why host staging: read() and write() are the only transfers every Backend has, so one path
// works between any two of them (CPU <-> CUDA, two GPUs, two backends on one GPU) with no
// pairwise code. A batch moves n_tokens x n_embd floats each way (16 KiB per decode token at
// n_embd 4096), small beside a stage's layers. Peer copies (cudaMemcpyPeer) or a shared stream
// between GPUs are an optimisation for later, behind this same class.
#include "model/bridged_stage.h"

#include <fmt/format.h>

#include <string>

namespace strata::model {
namespace {

std::string layers_text(LayerRange r) {
  return r.size() == 1 ? fmt::format("layer {}", r.begin) : fmt::format("layers {}-{}", r.begin, r.end - 1);
}

}  // namespace

Result<std::unique_ptr<BridgedStage>> BridgedStage::create(backend::Backend& model_backend,
                                                           backend::Backend& stage_backend, const gguf::File& file,
                                                           const HParams& hp, const StageConfig& config) {
  if (&model_backend == &stage_backend) {
    return invalid_argument("a bridged stage of {} was given the model's own backend; use a plain Stage",
                            layers_text(config.layers));
  }
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Stage> stage, Stage::create(stage_backend, file, hp, config));
  std::unique_ptr<BridgedStage> bridged(new BridgedStage(model_backend, stage_backend, std::move(stage), hp.n_embd));
  const uint64_t floats = uint64_t{config.n_batch} * hp.n_embd;
  STRATA_ASSIGN_OR_RETURN(bridged->hidden_,
                          stage_backend.allocate(floats * sizeof(float),
                                                 fmt::format("the hidden states of {} for a batch of {} tokens",
                                                             layers_text(config.layers), config.n_batch)));
  bridged->staging_.resize(floats);
  return bridged;
}

Status BridgedStage::forward(const BatchMeta& batch, float* hidden) {
  const auto n_tokens = static_cast<uint64_t>(batch.n_tokens());
  if (n_tokens * n_embd_ > staging_.size()) {
    return invalid_argument("a batch of {} tokens is larger than the batch size {} {} were loaded with", n_tokens,
                            staging_.size() / n_embd_, layers_text(layers()));
  }
  const size_t bytes = n_tokens * n_embd_ * sizeof(float);
  // read() waits for the model backend's work so far (the embeddings or the previous stage).
  STRATA_TRY(model_backend_->read(staging_.data(), hidden, bytes));
  STRATA_TRY(stage_backend_->write(hidden_->data(), staging_.data(), bytes));
  STRATA_TRY(stage_->forward(batch, hidden_->floats()));
  Status back = stage_backend_->read(staging_.data(), hidden_->data(), bytes);
  if (back.ok()) back = model_backend_->write(hidden, staging_.data(), bytes);
  if (!back.ok()) {
    // The layers stored the batch's K/V rows already: drop them, as the contract asks of a
    // forward that fails.
    for (size_t t = 0; t < batch.positions.size(); ++t) {
      (void)stage_->trim(static_cast<uint32_t>(batch.seq_ids[t]), static_cast<uint64_t>(batch.positions[t]));
    }
    return back.with_context(fmt::format("moving the hidden states of {} back", layers_text(layers())));
  }
  return {};
}

}  // namespace strata::model
