// BridgedStage: a Stage on another backend than the model's (the CPU layers of a -ngl split,
// or a second GPU), behind the StageRunner contract that hidden states live in the model's
// backend memory. Each forward moves them model backend -> host -> stage backend, runs the
// layers there and moves them back.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "gguf/file.h"
#include "model/hparams.h"
#include "model/stage.h"

namespace strata::model {

class BridgedStage final : public StageRunner {
 public:
  // Loads the range's weights and KV cache on `stage_backend` and a hidden-state buffer of
  // config.n_batch x n_embd there. Both backends and `file` must outlive the stage.
  static Result<std::unique_ptr<BridgedStage>> create(backend::Backend& model_backend,
                                                      backend::Backend& stage_backend, const gguf::File& file,
                                                      const HParams& hp, const StageConfig& config);

  // hidden: in model_backend memory, as for every StageRunner.
  Status forward(const BatchMeta& batch, float* hidden) override;

  Status clear(uint32_t seq) override { return stage_->clear(seq); }
  Status trim(uint32_t seq, uint64_t n) override { return stage_->trim(seq, n); }
  Status copy(uint32_t src, uint32_t dst, uint64_t n) override { return stage_->copy(src, dst, n); }
  uint64_t length(uint32_t seq) const override { return stage_->length(seq); }
  uint64_t n_ctx_per_seq() const override { return stage_->n_ctx_per_seq(); }

  LayerRange layers() const override { return stage_->layers(); }
  uint64_t weight_bytes() const override { return stage_->weight_bytes(); }
  uint64_t kv_bytes() const override { return stage_->kv_bytes(); }

  const Stage& stage() const { return *stage_; }
  backend::Backend& stage_backend() { return *stage_backend_; }

 private:
  BridgedStage(backend::Backend& model_backend, backend::Backend& stage_backend, std::unique_ptr<Stage> stage,
               uint32_t n_embd)
      : model_backend_(&model_backend), stage_backend_(&stage_backend), stage_(std::move(stage)), n_embd_(n_embd) {}

  backend::Backend* model_backend_;
  backend::Backend* stage_backend_;
  std::unique_ptr<Stage> stage_;
  uint32_t n_embd_;
  std::unique_ptr<backend::DeviceBuffer> hidden_;  // [n_batch][n_embd] in stage_backend memory
  std::vector<float> staging_;                     // host copy on the way, [n_batch][n_embd]
};

}  // namespace strata::model
