// A whole model: embed -> stages (contiguous layer ranges) -> final norm + lm head -> logits.
// The embedding and head are the coordinator's part; each Stage holds its own layers' weights
// and KV cache and may run elsewhere (a worker process reached over dist/, another device).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "gguf/file.h"
#include "model/hparams.h"
#include "model/stage.h"
#include "model/weights.h"

namespace strata::model {

// One entry per token; storage belongs to the caller (engine::Batch).
struct BatchView {
  std::span<const int32_t> tokens;
  std::span<const int32_t> positions;
  std::span<const int32_t> seq_ids;
  std::span<const uint8_t> output;  // nonzero: return this token's logits
  BatchMeta meta() const { return {positions, seq_ids}; }
};

struct ModelConfig {
  kv::KvConfig kv;          // n_ctx cells over n_seq sequences, K/V types
  bool flash_attn = true;   // false: the plain attention path
  uint32_t n_batch = 512;   // most tokens one forward() takes
  uint32_t n_outputs = 0;   // most logits rows one forward() returns; 0: one per sequence
  // Contiguous ranges covering layers 0..n_layer-1 in order; empty: one stage of every layer.
  std::vector<LayerRange> stages;
};

class Model {
 public:
  // Reads the hyperparameters, checks and loads every tensor, allocates caches and scratch.
  // Errors name the tensor or setting and what would work. The backend must outlive the model;
  // the model keeps its own reference to the file's mapping.
  static Result<std::unique_ptr<Model>> load(const gguf::File& file, backend::Backend& backend,
                                             const ModelConfig& config);

  // A model whose stages are given (local Stages, remote ones, or a mix): loads only the
  // embedding and head from `file`. The stages' ranges must cover every layer in order; they
  // were built for config.kv and config.n_batch (config.stages is replaced by their ranges).
  static Result<std::unique_ptr<Model>> assemble(const gguf::File& file, backend::Backend& backend,
                                                 const ModelConfig& config,
                                                 std::vector<std::unique_ptr<StageRunner>> stages);

  // Runs a batch through every stage; afterwards logits(i) is the i-th output token's row (in
  // batch order). On error the KV caches keep what they held before the batch.
  Status forward(const BatchView& batch);

  size_t n_outputs() const { return n_outputs_; }
  std::span<const float> logits(size_t i) const;

  // Sequence operations on every stage's cache (see kv::KvCache).
  Status clear(uint32_t seq);
  Status trim(uint32_t seq, uint64_t n);
  Status copy(uint32_t src, uint32_t dst, uint64_t n);
  uint64_t length(uint32_t seq) const;
  uint64_t n_ctx_per_seq() const;

  const HParams& hparams() const { return hp_; }
  const ModelConfig& config() const { return config_; }
  const std::vector<std::unique_ptr<StageRunner>>& stages() const { return stages_; }
  uint64_t weight_bytes() const;  // head + every stage
  uint64_t kv_bytes() const;
  uint32_t max_outputs() const { return max_outputs_; }

 private:
  Model() = default;
  Status embed(const BatchView& batch);
  Status head(const BatchView& batch);
  // Everything but the stages: settings, head weights, hidden-state and logits buffers.
  static Result<std::unique_ptr<Model>> create_shell(const gguf::File& file, backend::Backend& backend,
                                                     const ModelConfig& config);
  Status allocate_buffers();

  gguf::File file_;  // keeps the mapping the weights point into
  HParams hp_;
  ModelConfig config_;
  backend::Backend* backend_ = nullptr;
  HeadWeights head_;
  std::vector<std::unique_ptr<StageRunner>> stages_;
  uint32_t max_outputs_ = 0;

  std::unique_ptr<backend::DeviceBuffer> hidden_;      // [n_batch][n_embd]
  std::unique_ptr<backend::DeviceBuffer> head_in_;     // [max_outputs][n_embd]
  std::unique_ptr<backend::DeviceBuffer> logits_dev_;  // [max_outputs][n_vocab]
  std::vector<float> logits_;                          // host copy of the last forward's rows
  size_t n_outputs_ = 0;
};

}  // namespace strata::model
