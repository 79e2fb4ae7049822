// The chain's steps over the candidate list: top-k, typical, top-p, min-p, temperature, draw.
#include "sampling/candidates.h"

#include <algorithm>
#include <cmath>

#include "sampling/fast_exp.h"

namespace strata::sampling {

namespace {

float max_logit(const Candidates& c) {
  if (c.sorted) return c.items.front().logit;
  float m = -INFINITY;
  for (const TokenProb& t : c.items) m = std::max(m, t.logit);
  return m;
}

size_t keep_at_least(size_t min_keep) { return std::max<size_t>(min_keep, 1); }

}  // namespace

double softmax(Candidates& c) {
  if (c.items.empty()) return 0.0;
  const float m = max_logit(c);
  const size_t n = c.items.size();
  c.scratch.resize(n);
  for (size_t i = 0; i < n; ++i) c.scratch[i] = c.items[i].logit - m;
  const double total = exp_in_place(c.scratch.data(), n);
  const auto inv = static_cast<float>(1.0 / total);
  for (size_t i = 0; i < n; ++i) c.items[i].p = c.scratch[i] * inv;
  return total;
}

void sort_by_logit(Candidates& c) {
  if (c.sorted) return;
  std::sort(c.items.begin(), c.items.end(), higher_logit);
  c.sorted = true;
}

void apply_top_k(Candidates& c, int32_t k) {
  if (k <= 0 || static_cast<size_t>(k) >= c.items.size()) return;
  const auto n = static_cast<size_t>(k);
  if (!c.sorted) {
    std::partial_sort(c.items.begin(), c.items.begin() + static_cast<std::ptrdiff_t>(n), c.items.end(),
                      higher_logit);
    c.sorted = true;
  }
  c.items.resize(n);
}

// Locally typical sampling (Meister et al.): keep the tokens whose surprisal is closest to the
// distribution's entropy until they hold more than p of the probability mass.
void apply_typical(Candidates& c, float p, size_t min_keep) {
  if (p >= 1.0f || c.items.size() <= 1) return;
  softmax(c);
  double entropy = 0.0;
  for (const TokenProb& t : c.items) {
    if (t.p > 0.0f) entropy -= static_cast<double>(t.p) * std::log(static_cast<double>(t.p));
  }
  std::vector<std::pair<double, size_t>> order(c.items.size());
  for (size_t i = 0; i < c.items.size(); ++i) {
    const double p_i = c.items[i].p;
    // A probability that underflowed to 0 is infinitely surprising: last in line.
    const double distance = p_i > 0.0 ? std::abs(-std::log(p_i) - entropy) : INFINITY;
    order[i] = {distance, i};
  }
  // Stable on ties (by index, and the items are in a deterministic order) so results repeat.
  std::sort(order.begin(), order.end());
  const size_t floor = keep_at_least(min_keep);
  size_t keep = order.size();
  double cum = 0.0;
  for (size_t i = 0; i < order.size(); ++i) {
    cum += c.items[order[i].second].p;
    if (cum > p && i + 1 >= floor) {
      keep = i + 1;
      break;
    }
  }
  std::vector<TokenProb> kept(keep);
  for (size_t i = 0; i < keep; ++i) kept[i] = c.items[order[i].second];
  c.items = std::move(kept);
  c.sorted = false;
}

// Nucleus sampling: the smallest set of most likely tokens whose mass reaches p. Sorting grows
// in chunks because the nucleus is usually a tiny part of a large vocabulary.
void apply_top_p(Candidates& c, float p, size_t min_keep) {
  if (p >= 1.0f || c.items.size() <= 1) return;
  softmax(c);
  const size_t n = c.items.size();
  const size_t floor = keep_at_least(min_keep);
  size_t sorted_upto = c.sorted ? n : 0;
  size_t keep = n;
  double cum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    if (i == sorted_upto) {
      const size_t next = std::min(n, std::max<size_t>(64, sorted_upto * 4));
      auto first = c.items.begin() + static_cast<std::ptrdiff_t>(sorted_upto);
      std::partial_sort(first, c.items.begin() + static_cast<std::ptrdiff_t>(next), c.items.end(),
                        higher_logit);
      sorted_upto = next;
    }
    cum += c.items[i].p;
    if (cum >= p && i + 1 >= floor) {
      keep = i + 1;
      break;
    }
  }
  c.items.resize(keep);
  // Whatever was cut, the kept prefix is sorted; if nothing was cut, every chunk was sorted.
  c.sorted = true;
}

// Keeps tokens with p >= min_p * p_max, i.e. logit >= max_logit + log(min_p).
void apply_min_p(Candidates& c, float p, size_t min_keep) {
  if (p <= 0.0f || c.items.size() <= 1) return;
  const float threshold = max_logit(c) + std::log(p);
  const size_t floor = keep_at_least(min_keep);
  size_t above = 0;
  for (const TokenProb& t : c.items) above += t.logit >= threshold ? 1 : 0;
  if (above >= floor) {
    // Order-preserving filter: no sort needed.
    auto end = std::remove_if(c.items.begin(), c.items.end(),
                              [threshold](const TokenProb& t) { return t.logit < threshold; });
    c.items.erase(end, c.items.end());
    return;
  }
  // Too few pass: keep the min_keep best instead.
  apply_top_k(c, static_cast<int32_t>(std::min<size_t>(floor, c.items.size())));
}

void apply_temperature(Candidates& c, float temp) {
  if (c.items.empty()) return;
  const float m = max_logit(c);
  for (TokenProb& t : c.items) t.logit = (t.logit - m) / temp;
}

size_t pick_by_probability(Candidates& c, double u) {
  // Walks the unnormalized weights so the target and the running sum share one scale.
  const double target = u * softmax(c);
  double cum = 0.0;
  size_t last_positive = 0;
  for (size_t i = 0; i < c.scratch.size(); ++i) {
    const float weight = c.scratch[i];
    if (weight <= 0.0f) continue;
    last_positive = i;
    cum += weight;
    if (cum > target) return i;
  }
  // Rounding left the target just past the sum: the last token that had any weight.
  return last_positive;
}

}  // namespace strata::sampling
