// Tensor list of llama / qwen2 models in llama.cpp naming (LLM_TENSOR_* names of llama-arch.cpp).
#include "model/arch_tensors.h"

#include <fmt/format.h>

namespace strata::model {
namespace {

struct Dims {
  uint64_t embd, vocab, ff, q, k, v, o, rope;  // o: attention output width, n_head * head_dim_v
};

Result<Dims> derive_dims(const HParams& hp) {
  if (hp.n_embd == 0) return invalid_argument("n_embd is 0; a model needs an embedding width of at least 1");
  if (hp.n_vocab == 0) return invalid_argument("n_vocab is 0; a model needs at least one token");
  if (hp.n_layer == 0) return invalid_argument("n_layer is 0; a model needs at least one block");
  if (hp.n_ff == 0) return invalid_argument("n_ff is 0; the feed-forward width must be at least 1");
  if (hp.n_head == 0) return invalid_argument("n_head is 0; a model needs at least one attention head");
  const uint32_t n_head_kv = hp.n_head_kv == 0 ? hp.n_head : hp.n_head_kv;
  if (hp.n_head % n_head_kv != 0) {
    return invalid_argument("n_head_kv {} does not divide n_head {}; use a divisor of {}", n_head_kv, hp.n_head,
                            hp.n_head);
  }
  uint32_t head_k = hp.head_dim_k;
  if (head_k == 0) {
    if (hp.n_embd % hp.n_head != 0) {
      return invalid_argument("n_head {} does not divide n_embd {}; pick a head count that divides it", hp.n_head,
                              hp.n_embd);
    }
    head_k = hp.n_embd / hp.n_head;
  }
  const uint32_t head_v = hp.head_dim_v == 0 ? head_k : hp.head_dim_v;
  const uint32_t rope = hp.rope_dim == 0 ? head_k : hp.rope_dim;
  if (rope % 2 != 0 || rope > head_k) {
    return invalid_argument("rope dimension {} must be even and at most the head size {}", rope, head_k);
  }
  return Dims{hp.n_embd,
              hp.n_vocab,
              hp.n_ff,
              uint64_t{hp.n_head} * head_k,
              uint64_t{n_head_kv} * head_k,
              uint64_t{n_head_kv} * head_v,
              uint64_t{hp.n_head} * head_v,
              rope};
}

}  // namespace

Result<std::vector<TensorSpec>> arch_tensors(const HParams& hp, const ArchTensorOptions& options) {
  STRATA_ASSIGN_OR_RETURN(const Dims d, derive_dims(hp));
  const bool qkv_bias = hp.arch == Arch::kQwen2;

  std::vector<TensorSpec> list;
  list.reserve(4 + hp.n_layer * (qkv_bias ? 12u : 9u));
  list.push_back({"token_embd.weight", {d.embd, d.vocab}, TensorRole::kTokenEmbd});
  if (options.rope_freqs) list.push_back({"rope_freqs.weight", {d.rope / 2}, TensorRole::kRopeFreqs});

  for (uint32_t il = 0; il < hp.n_layer; ++il) {
    const int32_t layer = static_cast<int32_t>(il);
    auto add = [&](std::string_view suffix, std::vector<uint64_t> ne, TensorRole role) {
      list.push_back({fmt::format("blk.{}.{}", il, suffix), std::move(ne), role, layer});
    };
    add("attn_norm.weight", {d.embd}, TensorRole::kAttnNorm);
    add("attn_q.weight", {d.embd, d.q}, TensorRole::kAttnQ);
    if (qkv_bias) add("attn_q.bias", {d.q}, TensorRole::kAttnQBias);
    add("attn_k.weight", {d.embd, d.k}, TensorRole::kAttnK);
    if (qkv_bias) add("attn_k.bias", {d.k}, TensorRole::kAttnKBias);
    add("attn_v.weight", {d.embd, d.v}, TensorRole::kAttnV);
    if (qkv_bias) add("attn_v.bias", {d.v}, TensorRole::kAttnVBias);
    add("attn_output.weight", {d.o, d.embd}, TensorRole::kAttnOutput);
    add("ffn_norm.weight", {d.embd}, TensorRole::kFfnNorm);
    add("ffn_gate.weight", {d.embd, d.ff}, TensorRole::kFfnGate);
    add("ffn_up.weight", {d.embd, d.ff}, TensorRole::kFfnUp);
    add("ffn_down.weight", {d.ff, d.embd}, TensorRole::kFfnDown);
  }

  list.push_back({"output_norm.weight", {d.embd}, TensorRole::kOutputNorm});
  if (!hp.tied_embeddings) list.push_back({"output.weight", {d.embd, d.vocab}, TensorRole::kOutput});
  return list;
}

}  // namespace strata::model
