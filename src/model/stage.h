// A Stage: a contiguous range of a model's layers with their weights and KV cache, run against
// the Backend interface only. The model runs embed -> stages -> head; a stage could equally run
// in a worker process (receiving hidden states over the network) or on a GPU backend.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "gguf/file.h"
#include "kv/kv_cache.h"
#include "model/hparams.h"
#include "model/weights.h"

namespace strata::model {

// What a stage needs to know about a batch, one entry per token: exactly what would cross the
// network to a remote stage besides the hidden states.
struct BatchMeta {
  std::span<const int32_t> positions;
  std::span<const int32_t> seq_ids;
  int64_t n_tokens() const { return static_cast<int64_t>(positions.size()); }
};

// A contiguous range of layers that transforms hidden states, wherever it runs: a local Stage,
// or a stage on a worker reached over the network (dist::RemoteStage). The model runs
// embed -> runners -> head and does not care which is which.
class StageRunner {
 public:
  virtual ~StageRunner() = default;

  // hidden: [n_tokens][n_embd] f32 in the model's backend memory, transformed in place from the
  // input of layers().begin to the output of layers().end - 1. The batch's K/V rows are added
  // to the stage's cache; on error the cache keeps what it held before.
  virtual Status forward(const BatchMeta& batch, float* hidden) = 0;

  // Sequence operations on the stage's cache (see kv::KvCache).
  virtual Status clear(uint32_t seq) = 0;
  virtual Status trim(uint32_t seq, uint64_t n) = 0;
  virtual Status copy(uint32_t src, uint32_t dst, uint64_t n) = 0;
  virtual uint64_t length(uint32_t seq) const = 0;
  virtual uint64_t n_ctx_per_seq() const = 0;

  virtual LayerRange layers() const = 0;
  virtual uint64_t weight_bytes() const = 0;  // in whatever memory holds them
  virtual uint64_t kv_bytes() const = 0;

};

struct StageConfig {
  LayerRange layers;
  kv::KvConfig kv;         // cells, sequences and K/V types of this stage's cache
  bool flash_attn = true;  // false: the plain attention path (-fa off)
  uint32_t n_batch = 512;  // most tokens one forward() takes; scratch is sized for it at load
};

class Stage final : public StageRunner {
 public:
  // Loads and checks the range's weights, allocates its KV cache and its scratch activations.
  // `file` must outlive the stage (the CPU backend computes with its mapping in place).
  static Result<std::unique_ptr<Stage>> create(backend::Backend& backend, const gguf::File& file, const HParams& hp,
                                               const StageConfig& config);

  // hidden: [n_tokens][n_embd] f32 in this stage's backend memory, transformed in place from
  // the input of layer layers().begin to the output of layer layers().end - 1. The batch's
  // K/V rows are added to the cache; on error the cache keeps what it held before.
  Status forward(const BatchMeta& batch, float* hidden) override;

  Status clear(uint32_t seq) override { return kv_.clear(seq); }
  Status trim(uint32_t seq, uint64_t n) override { return kv_.trim(seq, n); }
  Status copy(uint32_t src, uint32_t dst, uint64_t n) override { return kv_.copy(src, dst, n); }
  uint64_t length(uint32_t seq) const override { return kv_.length(seq); }
  uint64_t n_ctx_per_seq() const override { return kv_.n_ctx_per_seq(); }
  uint64_t kv_bytes() const override { return kv_.memory().total_bytes(); }

  LayerRange layers() const override { return weights_.range; }
  const HParams& hparams() const { return hp_; }
  backend::Backend& backend() { return *backend_; }
  kv::KvCache& kv_cache() { return kv_; }
  const kv::KvCache& kv_cache() const { return kv_; }
  uint64_t weight_bytes() const override { return weights_.bytes; }
  uint64_t scratch_bytes() const { return scratch_ ? scratch_->size() : 0; }
  uint32_t n_batch() const { return n_batch_; }

 private:
  // A run of consecutive batch tokens of one sequence: attention and KV writes go per run.
  struct Run {
    int64_t begin;
    int64_t end;
    uint32_t seq;
  };

  Stage(backend::Backend& backend, HParams hp, StageWeights weights, kv::KvCache kv, bool flash, uint32_t n_batch)
      : backend_(&backend), hp_(std::move(hp)), weights_(std::move(weights)), kv_(std::move(kv)),
        flash_(flash), n_batch_(n_batch) {}

  Status attention_block(uint32_t layer, const LayerWeights& w, const BatchMeta& batch, float* x);
  Status ffn_block(const LayerWeights& w, int64_t n_tokens, float* x);
  Status store_kv(uint32_t layer, const BatchMeta& batch);
  Status attend(uint32_t layer, const BatchMeta& batch);

  backend::Backend* backend_;
  HParams hp_;
  StageWeights weights_;
  kv::KvCache kv_;
  bool flash_;
  uint32_t n_batch_;
  std::unique_ptr<backend::RopeAngles> rope_;
  std::vector<Run> runs_;  // reserved for n_batch runs at load

  // Scratch activations, [n_batch][width] each, carved out of one buffer.
  std::unique_ptr<backend::DeviceBuffer> scratch_;
  float* xn_ = nullptr;    // normed input, n_embd
  float* q_ = nullptr;     // n_head * head_dim
  float* k_ = nullptr;     // n_head_kv * head_dim
  float* v_ = nullptr;     // n_head_kv * head_dim
  float* attn_ = nullptr;  // attention output, n_head * head_dim
  float* proj_ = nullptr;  // output of attn_output / ffn_down, n_embd
  float* gate_ = nullptr;  // n_ff
  float* up_ = nullptr;    // n_ff
};

// RoPE settings from the hyperparameters and the file (rope.scaling.*, rope_freqs).
Result<backend::RopeParams> rope_params(const gguf::File& file, const HParams& hp, std::vector<float> freq_factors);

}  // namespace strata::model
