// A simple generator for one sequence: the prompt as one batch, then sample a token and feed it
// back one at a time. What `strata run` uses; the server's scheduler batches many of these.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/status.h"
#include "model/model.h"
#include "sampling/sampling_params.h"

namespace strata::engine {

struct GenerateOptions {
  int32_t n_predict = 32;  // tokens to sample; 0 only runs the prompt
  sampling::SamplingParams sampling;
  // Keep the logits of every prompt position (the model must allow that many outputs).
  bool prompt_logits = false;
  // Sampling one of these ends the generation (the token is kept in `generated`).
  std::vector<int32_t> end_tokens;
  uint32_t seq = 0;  // the sequence (KV cache slot) to use; it is cleared first
};

struct GenerateResult {
  std::vector<int32_t> generated;
  std::vector<float> prompt_logits;  // n_prompt x n_vocab when asked for
  int64_t n_prompt = 0;
  double prompt_ms = 0.0;  // the prompt's forward pass
  int64_t n_decode = 0;    // one-token forward passes
  double decode_ms = 0.0;  // those passes and the sampling around them
  bool ended_by_token = false;    // an end token was sampled
  bool ended_by_context = false;  // the sequence's cells ran out before n_predict
};

// Called with each sampled token as soon as it is known; an error stops the generation.
using TokenCallback = std::function<Status(int32_t token)>;

// Errors: an empty prompt, a prompt longer than the sequence's context (the message says the
// -c that would fit), n_predict < 0, bad sampling settings, token ids outside the vocabulary.
Result<GenerateResult> generate(model::Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                                const TokenCallback& on_token = {});

}  // namespace strata::engine
