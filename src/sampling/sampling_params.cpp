// Validation of SamplingParams.
#include "sampling/sampling_params.h"

#include <cmath>

namespace strata::sampling {

namespace {

Status check_unit_interval(const char* field, float value, bool zero_allowed, const char* off_hint) {
  bool ok = zero_allowed ? (value >= 0.0f && value <= 1.0f) : (value > 0.0f && value <= 1.0f);
  if (ok) return {};
  return invalid_argument("{} must be in {}0, 1] ({}), got {}", field, zero_allowed ? "[" : "(", off_hint,
                          value);
}

}  // namespace

Status validate(const SamplingParams& params, int32_t n_vocab) {
  if (n_vocab <= 0) return invalid_argument("vocabulary size must be > 0, got {}", n_vocab);
  if (std::isnan(params.temperature) || std::isinf(params.temperature)) {
    return invalid_argument("temperature must be a finite number (<= 0 means greedy), got {}",
                            params.temperature);
  }
  if (params.top_k < 0) {
    return invalid_argument("top_k must be >= 0 (0 turns it off), got {}", params.top_k);
  }
  STRATA_TRY(check_unit_interval("top_p", params.top_p, false, "1 turns it off"));
  STRATA_TRY(check_unit_interval("min_p", params.min_p, true, "0 turns it off"));
  STRATA_TRY(check_unit_interval("typical_p", params.typical_p, false, "1 turns it off"));
  if (params.penalty_last_n < 0 || params.penalty_last_n > kMaxPenaltyLastN) {
    return invalid_argument(
        "penalty_last_n must be in [0, {}] (0 turns penalties off; resolve -1, 'whole context', "
        "to the context size before creating the sampler), got {}",
        kMaxPenaltyLastN, params.penalty_last_n);
  }
  if (!(params.repeat_penalty > 0.0f) || std::isinf(params.repeat_penalty)) {
    return invalid_argument("repeat_penalty must be a finite number > 0 (1 turns it off), got {}",
                            params.repeat_penalty);
  }
  if (!std::isfinite(params.frequency_penalty)) {
    return invalid_argument("frequency_penalty must be a finite number (0 turns it off), got {}",
                            params.frequency_penalty);
  }
  if (!std::isfinite(params.presence_penalty)) {
    return invalid_argument("presence_penalty must be a finite number (0 turns it off), got {}",
                            params.presence_penalty);
  }
  if (params.min_keep < 0) {
    return invalid_argument("min_keep must be >= 0, got {}", params.min_keep);
  }
  for (size_t i = 0; i < params.logit_bias.size(); ++i) {
    const LogitBias& entry = params.logit_bias[i];
    if (entry.token < 0 || entry.token >= n_vocab) {
      return invalid_argument("logit_bias[{}]: token id {} is outside the vocabulary [0, {})", i,
                              entry.token, n_vocab);
    }
    // -inf is how a ban is spelled; +inf or NaN would poison the softmax.
    if (std::isnan(entry.bias) || entry.bias == INFINITY) {
      return invalid_argument(
          "logit_bias[{}] (token {}): bias must be a finite number or -infinity (ban), got {}", i,
          entry.token, entry.bias);
    }
  }
  return {};
}

}  // namespace strata::sampling
