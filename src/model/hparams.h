// Architecture and hyperparameters of a model, as read from (or written to) GGUF metadata.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"
#include "gguf/file.h"

namespace strata::model {

enum class Arch { kLlama, kQwen2 };

std::string_view arch_name(Arch arch);  // GGUF spelling: "llama", "qwen2"
// Error lists the architectures strata supports.
Result<Arch> arch_from_name(std::string_view name);

enum class RopeType { kNormal, kNeox };  // llama: adjacent pairs; qwen2: halves (neox)

struct HParams {
  Arch arch = Arch::kLlama;
  std::string name;            // general.name, may be empty
  uint32_t n_vocab = 0;        // tokens in the vocabulary (= rows of token_embd)
  uint32_t n_ctx_train = 0;    // <arch>.context_length
  uint32_t n_embd = 0;         // <arch>.embedding_length
  uint32_t n_layer = 0;        // <arch>.block_count
  uint32_t n_head = 0;         // <arch>.attention.head_count
  uint32_t n_head_kv = 0;      // <arch>.attention.head_count_kv (defaults to n_head)
  uint32_t n_ff = 0;           // <arch>.feed_forward_length
  uint32_t head_dim_k = 0;     // <arch>.attention.key_length (defaults to n_embd / n_head)
  uint32_t head_dim_v = 0;     // <arch>.attention.value_length (defaults to head_dim_k)
  float rms_norm_eps = 1e-5f;  // <arch>.attention.layer_norm_rms_epsilon
  float rope_freq_base = 10000.0f;  // <arch>.rope.freq_base
  uint32_t rope_dim = 0;       // <arch>.rope.dimension_count (defaults to head_dim_k)
  RopeType rope_type = RopeType::kNormal;
  bool tied_embeddings = false;  // no `output.weight`: the head reuses token_embd

  uint32_t n_embd_k_gqa() const { return head_dim_k * n_head_kv; }
  uint32_t n_embd_v_gqa() const { return head_dim_v * n_head_kv; }
};

// Reads and checks hyperparameters: a missing key or an impossible value (0 layers, n_head
// not dividing n_embd, n_head_kv not dividing n_head, ...) is an error naming the key.
Result<HParams> read_hparams(const gguf::File& file);

}  // namespace strata::model
