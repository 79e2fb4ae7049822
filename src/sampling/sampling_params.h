// SamplingParams: the knobs of the sampler chain, with llama.cpp's defaults, and their validation.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace strata::sampling {

// Asks for a seed drawn from the operating system (llama.cpp's LLAMA_DEFAULT_SEED).
inline constexpr uint32_t kRandomSeed = 0xFFFFFFFFu;

// Largest accepted penalty window; the history ring buffer is allocated at this size.
inline constexpr int32_t kMaxPenaltyLastN = 1 << 20;

// Added to a token's logit before anything else; -infinity bans the token.
struct LogitBias {
  int32_t token = 0;
  float bias = 0.0f;
};

// Applied in this order: logit_bias, penalties, top_k, typical_p, top_p, min_p, temperature,
// then a draw from the remaining distribution. A value that switches a step off skips it.
struct SamplingParams {
  uint32_t seed = kRandomSeed;   // same seed + same inputs = same tokens
  float temperature = 0.8f;      // <= 0: greedy (argmax after bias and penalties)
  int32_t top_k = 40;            // 0: off
  float top_p = 0.95f;           // 1: off
  float min_p = 0.05f;           // 0: off
  float typical_p = 1.0f;        // 1: off
  int32_t penalty_last_n = 64;   // tokens of history the penalties look at; 0: off
  float repeat_penalty = 1.0f;   // 1: off
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  int32_t min_keep = 0;          // truncation steps keep at least this many candidates
  std::vector<LogitBias> logit_bias;
};

// Checks every field against its valid range for a vocabulary of n_vocab tokens; the error
// names the field, the value seen and the range that would work.
Status validate(const SamplingParams& params, int32_t n_vocab);

}  // namespace strata::sampling
