// Rotary position embedding (RoPE) on the CPU: a table of cos/sin per token of a batch, built
// once per forward pass, and the in-place rotation of q or k that every layer applies with it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"

namespace strata::backend::cpu {

enum class RopeMode {
  kNormal,  // pairs (x[2i], x[2i+1]): llama, mistral
  kNeox,    // pairs (x[i], x[i + rope_dim/2]): qwen2
};

struct RopeConfig {
  int64_t head_dim = 0;
  int64_t rope_dim = 0;  // the first rope_dim values of each head rotate; 0 means head_dim
  RopeMode mode = RopeMode::kNormal;
  float freq_base = 10000.0f;  // rope.freq_base
  float freq_scale = 1.0f;     // linear position scaling: 1 / rope.scaling.factor
  // Empty, or rope_dim / 2 divisors of the angles (the `rope_freqs` tensor of Llama 3.1+).
  std::vector<float> freq_factors;
};

// cos and sin of theta_i = freq_scale * pos * freq_base^(-2i/rope_dim) / freq_factors[i] for
// every token of a batch, computed as llama.cpp does (the powers of freq_base^(-2/rope_dim)
// multiplied up one at a time in float, then cosf / sinf), so angles match its bits.
class RopeTable {
 public:
  // Errors: head_dim <= 0; rope_dim odd, negative or above head_dim; freq_base or freq_scale
  // not finite and > 0; freq_factors of the wrong length or with a value not finite and > 0.
  static Result<RopeTable> create(RopeConfig config);

  // Fills the table for these positions (one per token, each >= 0), reusing its memory.
  Status set_positions(std::span<const int32_t> positions, ThreadPool& pool);

  const RopeConfig& config() const { return config_; }
  int64_t n_tokens() const { return n_tokens_; }
  int64_t rope_dim() const { return config_.rope_dim; }

  // rope_dim values per token laid out by output dim j: out[j] = x[j] * cos[j] + x[p(j)] *
  // sin[j], where p(j) is j's partner in the mode and sin carries the sign (-sin for the
  // first of a pair, +sin for the second).
  const float* cos_row(int64_t t) const { return cos_.data() + t * config_.rope_dim; }
  const float* sin_row(int64_t t) const { return sin_.data() + t * config_.rope_dim; }

 private:
  explicit RopeTable(RopeConfig config) : config_(std::move(config)) {}

  RopeConfig config_;
  std::vector<float> cos_;
  std::vector<float> sin_;
  int64_t n_tokens_ = 0;
};

// Rotates n_head heads of head_dim values of each token in place, token t at position
// table's t: row t starts at x + t * x_stride (0 means n_head * head_dim), heads contiguous
// within it. Values past rope_dim in each head are left as they are.
// Errors: n_tokens different from the table's, n_head <= 0, x_stride shorter than a row, null x.
Status rope(float* x, int64_t n_tokens, int64_t n_head, const RopeTable& table, ThreadPool& pool,
            int64_t x_stride = 0);

}  // namespace strata::backend::cpu
