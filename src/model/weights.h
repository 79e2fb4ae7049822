// Weights of a layer range (what a Stage computes with) and of the embedding and head (what the
// coordinator computes with), checked against the architecture's tensor list and handed to a
// backend. On the CPU they stay in the GGUF mapping (zero-copy).
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "gguf/file.h"
#include "model/hparams.h"

namespace strata::model {

// Layers [begin, end) of a model.
struct LayerRange {
  uint32_t begin = 0;
  uint32_t end = 0;
  uint32_t size() const { return end - begin; }
};

struct LayerWeights {
  backend::WeightView attn_norm;
  backend::WeightView attn_q, attn_q_bias;  // biases: qwen2 only (empty for llama)
  backend::WeightView attn_k, attn_k_bias;
  backend::WeightView attn_v, attn_v_bias;
  backend::WeightView attn_output;
  backend::WeightView ffn_norm;
  backend::WeightView ffn_gate, ffn_up, ffn_down;
};

struct StageWeights {
  LayerRange range;
  std::vector<LayerWeights> layers;      // layers[i] is model layer range.begin + i
  std::vector<float> rope_freq_factors;  // rope_freqs.weight (Llama 3 rope scaling), else empty
  uint64_t bytes = 0;                    // tensor data of the range
};

struct HeadWeights {
  backend::WeightView token_embd;
  backend::WeightView output_norm;
  backend::WeightView output;  // token_embd itself when the embeddings are tied
  bool tied = false;
  uint64_t bytes = 0;
};

// Every tensor of the range must exist with the shape the hyperparameters give, norm weights and
// biases must be f32, and matrices of a type the backend multiplies. Errors name the tensor,
// what was found and what was expected. `file` must outlive the weights (they point into it).
Result<StageWeights> load_stage_weights(const gguf::File& file, const HParams& hp, LayerRange range,
                                        backend::Backend& backend);

// token_embd (any type that can be dequantized; one the backend multiplies when tied),
// output_norm and output.
Result<HeadWeights> load_head_weights(const gguf::File& file, const HParams& hp, backend::Backend& backend);

}  // namespace strata::model
