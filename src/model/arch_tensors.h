// The tensors (llama.cpp names and shapes) a llama or qwen2 model has for given hyperparameters.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/hparams.h"

namespace strata::model {

// What a tensor is for, so callers need not parse names.
enum class TensorRole {
  kTokenEmbd, kRopeFreqs, kOutputNorm, kOutput,
  kAttnNorm, kAttnQ, kAttnQBias, kAttnK, kAttnKBias, kAttnV, kAttnVBias, kAttnOutput,
  kFfnNorm, kFfnGate, kFfnUp, kFfnDown,
};

struct TensorSpec {
  std::string name;          // "blk.3.attn_q.weight"
  std::vector<uint64_t> ne;  // ggml order: ne[0] is the row length
  TensorRole role;
  int32_t layer = -1;        // block index, -1 outside the blocks

  // Norm weights, biases and rope factors are vectors that stay F32 in every file type.
  bool is_vector() const { return ne.size() == 1; }
};

struct ArchTensorOptions {
  // Llama-3.1-style rope scaling stores its per-frequency factors in rope_freqs.weight.
  bool rope_freqs = false;
};

// In forward order (embedding, then each block from norm to ffn_down, then the head), so a
// contiguous layer range is a contiguous run of the list. output.weight is absent when
// hp.tied_embeddings. Errors name the hyperparameter that makes the shapes impossible.
Result<std::vector<TensorSpec>> arch_tensors(const HParams& hp, const ArchTensorOptions& options = {});

}  // namespace strata::model
