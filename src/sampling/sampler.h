// Sampler: picks the next token from a logits vector with llama.cpp's default sampler chain.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "core/status.h"
#include "sampling/candidates.h"
#include "sampling/sampling_params.h"
#include "sampling/token_history.h"

namespace strata::sampling {

// One per sequence; not thread-safe. Usage: accept() every prompt token that the penalties
// should see, then for each step sample() and accept() the token actually appended.
class Sampler {
 public:
  // Validates params (see validate()) for a vocabulary of n_vocab tokens.
  static Result<Sampler> create(SamplingParams params, int32_t n_vocab);

  // Records a token in the penalty history. sample() does not do this by itself, so callers
  // decide what the penalties see (prompt tokens, forced tokens, ...).
  Status accept(int32_t token);

  // Draws a token. NaN logits are treated as -infinity (the token cannot be drawn); fails when
  // logits.size() != n_vocab or when no token has a finite (or +infinite) logit after bias.
  // Tokens with +infinity logits, if any, share all the probability equally.
  Result<int32_t> sample(std::span<const float> logits);

  // Empties the history and restarts the random sequence from the same seed.
  void reset();

  // Up to n of the candidates the last sample() drew from, most likely first, with their
  // probabilities after truncation and temperature (llama.cpp's "post-sampling" probs).
  // In greedy mode the only candidate is the chosen token, with p = 1.
  std::vector<TokenProb> top_candidates(size_t n) const;

  // The seed actually used (differs from params().seed when that was kRandomSeed).
  uint32_t seed() const { return seed_; }
  const SamplingParams& params() const { return params_; }
  int32_t n_vocab() const { return n_vocab_; }

 private:
  // A token whose logit bias or penalties change its raw logit.
  struct Patch {
    int32_t id;
    float logit;
  };

  Sampler(SamplingParams params, int32_t n_vocab, uint32_t seed);

  bool penalties_active() const;
  void build_patches(std::span<const float> logits);
  template <typename Floor, typename Visit>
  void for_each_logit_above(std::span<const float> logits, Floor&& floor, Visit&& visit) const;
  void collect_top_k(std::span<const float> logits, size_t k);
  void collect_all(std::span<const float> logits);
  double next_uniform();

  SamplingParams params_;
  int32_t n_vocab_ = 0;
  uint32_t seed_ = 0;
  std::mt19937 rng_;
  TokenHistory history_;
  std::vector<Patch> bias_;     // logit_bias merged per token, sorted by id
  std::vector<Patch> patches_;  // this step's modified logits, sorted by id
  Candidates candidates_;
};

}  // namespace strata::sampling
