// Candidates: the tokens still in the running during one sampling step, and the chain's steps
// over them (each one a llama.cpp-compatible sampler).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace strata::sampling {

struct TokenProb {
  int32_t id = 0;
  float logit = 0.0f;
  float p = 0.0f;  // valid after softmax(); steps that change logits leave it stale
};

// Higher logit first; ties go to the lower token id so every order is deterministic.
inline bool higher_logit(const TokenProb& a, const TokenProb& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

struct Candidates {
  std::vector<TokenProb> items;  // never holds -inf or NaN logits
  bool sorted = false;           // items are in higher_logit order
  std::vector<float> scratch;    // softmax work space, reused between steps and draws
};

// p = softmax(logit) over the current items (max-subtracted, so large logits are safe).
// Leaves exp(logit - max) in c.scratch and returns its sum.
double softmax(Candidates& c);
void sort_by_logit(Candidates& c);

// Each step keeps at least max(min_keep, 1) items when it has that many; a value that means
// "off" (k = 0, p >= 1, min_p <= 0) leaves the candidates untouched.
void apply_top_k(Candidates& c, int32_t k);
void apply_typical(Candidates& c, float p, size_t min_keep);
void apply_top_p(Candidates& c, float p, size_t min_keep);
void apply_min_p(Candidates& c, float p, size_t min_keep);
// Divides (logit - max) by temp (> 0): the same distribution as logit / temp, without the
// overflow to infinity that a tiny temperature would otherwise cause.
void apply_temperature(Candidates& c, float temp);

// Normalizes p over the items and returns the index whose cumulative share first exceeds u
// (u in [0, 1)). c must not be empty.
size_t pick_by_probability(Candidates& c, double u);

}  // namespace strata::sampling
