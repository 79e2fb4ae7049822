// Loading and validating weights against model/arch_tensors.h's list of names and shapes.
#include "model/weights.h"

#include <fmt/format.h>

#include <cstring>
#include <string>

#include "model/arch_tensors.h"

namespace strata::model {
namespace {

// What a tensor is used for decides which types it may have.
enum class Use { kVector, kMatmul, kEmbedding, kEmbeddingAndMatmul };

std::string shape_text(const std::vector<uint64_t>& ne) { return fmt::format("[{}]", fmt::join(ne, ", ")); }

// GGUF writers may or may not keep trailing dimensions of 1.
std::vector<uint64_t> trimmed(std::vector<uint64_t> ne) {
  while (ne.size() > 1 && ne.back() == 1) ne.pop_back();
  return ne;
}

std::string dequantizable_types() {
  std::string out;
  for (const quant::TypeInfo& info : quant::all_types()) {
    if (!info.can_dequantize) continue;
    if (!out.empty()) out += ", ";
    out += info.name;
  }
  return out;
}

Result<backend::WeightView> load_tensor(const gguf::File& file, const HParams& hp, const TensorSpec& spec, Use use,
                                        backend::Backend& backend, uint64_t& bytes) {
  const gguf::TensorInfo* info = file.find_tensor(spec.name);
  if (info == nullptr) {
    return not_found("tensor '{}' is missing; a {} model with these hyperparameters needs it with shape {}",
                     spec.name, arch_name(hp.arch), shape_text(spec.ne));
  }
  if (trimmed(info->ne) != trimmed(spec.ne)) {
    return invalid_argument(
        "tensor '{}' has shape {}, but the hyperparameters (n_embd {}, n_head {}, n_head_kv {}, head dim {}, n_ff {}, "
        "n_vocab {}) need {}",
        spec.name, shape_text(info->ne), hp.n_embd, hp.n_head, hp.n_head_kv, hp.head_dim_k, hp.n_ff, hp.n_vocab,
        shape_text(spec.ne));
  }
  switch (use) {
    case Use::kVector:
      if (info->type != quant::Type::F32) {
        return unsupported("tensor '{}' has type {}; norm weights, biases and rope factors must be f32", spec.name,
                           quant::type_name(info->type));
      }
      break;
    case Use::kMatmul:
      STRATA_TRY(backend.check_weight_type(spec.name, info->type));
      break;
    case Use::kEmbeddingAndMatmul:
      STRATA_TRY(backend.check_weight_type(spec.name, info->type));
      [[fallthrough]];
    case Use::kEmbedding:
      if (!quant::type_info(info->type).can_dequantize) {
        return unsupported("tensor '{}' has type {}, which strata cannot read rows of; supported: {}", spec.name,
                           quant::type_name(info->type), dequantizable_types());
      }
      break;
  }
  const auto n_cols = static_cast<int64_t>(info->ne[0]);
  const auto n_rows = static_cast<int64_t>(info->n_elements / info->ne[0]);
  auto view = backend.load_weight(info->type, info->data, n_cols, n_rows);
  if (!view.ok()) return view.status().with_context(fmt::format("tensor '{}'", spec.name));
  bytes += info->n_bytes;
  return *view;
}

Result<std::vector<TensorSpec>> tensor_list(const gguf::File& file, const HParams& hp) {
  ArchTensorOptions options;
  options.rope_freqs = file.find_tensor("rope_freqs.weight") != nullptr;
  return arch_tensors(hp, options);
}

}  // namespace

Result<StageWeights> load_stage_weights(const gguf::File& file, const HParams& hp, LayerRange range,
                                        backend::Backend& backend) {
  if (range.begin >= range.end || range.end > hp.n_layer) {
    return invalid_argument("layer range [{}, {}) is not a non-empty part of the model's {} layers", range.begin,
                            range.end, hp.n_layer);
  }
  STRATA_ASSIGN_OR_RETURN(const std::vector<TensorSpec> specs, tensor_list(file, hp));
  StageWeights weights;
  weights.range = range;
  weights.layers.resize(range.size());
  for (const TensorSpec& spec : specs) {
    if (spec.role == TensorRole::kRopeFreqs) {
      STRATA_ASSIGN_OR_RETURN(backend::WeightView view,
                              load_tensor(file, hp, spec, Use::kVector, backend, weights.bytes));
      // Read on the host: the rope angles are computed once per batch from these factors.
      const gguf::TensorInfo* info = file.find_tensor(spec.name);
      weights.rope_freq_factors.resize(static_cast<size_t>(view.n_cols));
      std::memcpy(weights.rope_freq_factors.data(), info->data.data(), weights.rope_freq_factors.size() * sizeof(float));
      continue;
    }
    if (spec.layer < 0 || static_cast<uint32_t>(spec.layer) < range.begin ||
        static_cast<uint32_t>(spec.layer) >= range.end) {
      continue;
    }
    LayerWeights& lw = weights.layers[static_cast<uint32_t>(spec.layer) - range.begin];
    backend::WeightView* slot = nullptr;
    Use use = Use::kMatmul;
    switch (spec.role) {
      case TensorRole::kAttnNorm: slot = &lw.attn_norm; use = Use::kVector; break;
      case TensorRole::kAttnQ: slot = &lw.attn_q; break;
      case TensorRole::kAttnQBias: slot = &lw.attn_q_bias; use = Use::kVector; break;
      case TensorRole::kAttnK: slot = &lw.attn_k; break;
      case TensorRole::kAttnKBias: slot = &lw.attn_k_bias; use = Use::kVector; break;
      case TensorRole::kAttnV: slot = &lw.attn_v; break;
      case TensorRole::kAttnVBias: slot = &lw.attn_v_bias; use = Use::kVector; break;
      case TensorRole::kAttnOutput: slot = &lw.attn_output; break;
      case TensorRole::kFfnNorm: slot = &lw.ffn_norm; use = Use::kVector; break;
      case TensorRole::kFfnGate: slot = &lw.ffn_gate; break;
      case TensorRole::kFfnUp: slot = &lw.ffn_up; break;
      case TensorRole::kFfnDown: slot = &lw.ffn_down; break;
      default:
        return internal_error("tensor '{}' of layer {} has a role the stage loader does not know", spec.name,
                              spec.layer);
    }
    STRATA_ASSIGN_OR_RETURN(*slot, load_tensor(file, hp, spec, use, backend, weights.bytes));
  }
  return weights;
}

Result<HeadWeights> load_head_weights(const gguf::File& file, const HParams& hp, backend::Backend& backend) {
  STRATA_ASSIGN_OR_RETURN(const std::vector<TensorSpec> specs, tensor_list(file, hp));
  HeadWeights weights;
  weights.tied = hp.tied_embeddings;
  for (const TensorSpec& spec : specs) {
    if (spec.role == TensorRole::kTokenEmbd) {
      const Use use = hp.tied_embeddings ? Use::kEmbeddingAndMatmul : Use::kEmbedding;
      STRATA_ASSIGN_OR_RETURN(weights.token_embd, load_tensor(file, hp, spec, use, backend, weights.bytes));
    } else if (spec.role == TensorRole::kOutputNorm) {
      STRATA_ASSIGN_OR_RETURN(weights.output_norm, load_tensor(file, hp, spec, Use::kVector, backend, weights.bytes));
    } else if (spec.role == TensorRole::kOutput) {
      STRATA_ASSIGN_OR_RETURN(weights.output, load_tensor(file, hp, spec, Use::kMatmul, backend, weights.bytes));
    }
  }
  if (weights.tied) weights.output = weights.token_embd;
  return weights;
}

}  // namespace strata::model
