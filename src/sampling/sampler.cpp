// Sampler: bias and penalties patched onto the raw logits, candidate selection without sorting
// the vocabulary, the truncation steps, then a seeded draw.
#include "sampling/sampler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

namespace strata::sampling {

namespace {

uint32_t resolve_seed(uint32_t requested) {
  if (requested != kRandomSeed) return requested;
  try {
    std::random_device device;
    return device();
  } catch (...) {
    // No entropy source (some containers): the clock still gives distinct seeds per request.
    return static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
}

// Tokens are scanned in blocks: a block whose largest logit cannot enter the result is skipped
// after a vectorized max, which is most blocks once the result has filled.
constexpr size_t kBlock = 64;

// Largest value in [p, p + n), ignoring NaN; -inf when there is none. Written with GCC vector
// extensions so it becomes packed compare/blend instructions on any target.
float range_max(const float* p, size_t n) {
  using Vec = float __attribute__((vector_size(16)));
  constexpr size_t kLanes = 4;
  Vec m0 = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
  Vec m1 = m0;
  size_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    Vec a, b;
    std::memcpy(&a, p + i, sizeof(a));
    std::memcpy(&b, p + i + kLanes, sizeof(b));
    // x > m is false for NaN, so NaN lanes keep their running max.
    m0 = a > m0 ? a : m0;
    m1 = b > m1 ? b : m1;
  }
  m0 = m1 > m0 ? m1 : m0;
  float m = -INFINITY;
  for (size_t lane = 0; lane < kLanes; ++lane) m = m0[lane] > m ? m0[lane] : m;
  for (; i < n; ++i) m = p[i] > m ? p[i] : m;
  return m;
}

}  // namespace

Result<Sampler> Sampler::create(SamplingParams params, int32_t n_vocab) {
  STRATA_TRY(validate(params, n_vocab));
  const uint32_t seed = resolve_seed(params.seed);
  return Sampler(std::move(params), n_vocab, seed);
}

Sampler::Sampler(SamplingParams params, int32_t n_vocab, uint32_t seed)
    : params_(std::move(params)), n_vocab_(n_vocab), seed_(seed), rng_(seed) {
  if (penalties_active()) history_ = TokenHistory(params_.penalty_last_n);
  // Several entries for one token add up, as applying them one after another would.
  for (const LogitBias& entry : params_.logit_bias) bias_.push_back({entry.token, entry.bias});
  std::sort(bias_.begin(), bias_.end(), [](const Patch& a, const Patch& b) { return a.id < b.id; });
  size_t out = 0;
  for (size_t i = 0; i < bias_.size(); ++i) {
    if (out > 0 && bias_[out - 1].id == bias_[i].id) {
      bias_[out - 1].logit += bias_[i].logit;
    } else {
      bias_[out++] = bias_[i];
    }
  }
  bias_.resize(out);
}

bool Sampler::penalties_active() const {
  return params_.penalty_last_n > 0 &&
         (params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
          params_.presence_penalty != 0.0f);
}

Status Sampler::accept(int32_t token) {
  if (token < 0 || token >= n_vocab_) {
    return invalid_argument("accepted token id {} is outside the vocabulary [0, {})", token, n_vocab_);
  }
  if (penalties_active()) history_.push(token);
  return {};
}

void Sampler::reset() {
  history_.clear();
  rng_.seed(seed_);
  candidates_.items.clear();
  candidates_.sorted = false;
}

// Only the few tokens named by logit_bias or present in the history change, so they are kept
// aside instead of copying the whole logits vector.
void Sampler::build_patches(std::span<const float> logits) {
  patches_.clear();
  const auto& counts = history_.counts();
  if (bias_.empty() && counts.empty()) return;
  for (const Patch& b : bias_) patches_.push_back({b.id, 0.0f});
  for (const auto& [token, count] : counts) patches_.push_back({token, 0.0f});
  std::sort(patches_.begin(), patches_.end(), [](const Patch& a, const Patch& b) { return a.id < b.id; });
  patches_.erase(std::unique(patches_.begin(), patches_.end(),
                             [](const Patch& a, const Patch& b) { return a.id == b.id; }),
                 patches_.end());
  for (Patch& patch : patches_) {
    float x = logits[static_cast<size_t>(patch.id)];
    auto bias = std::lower_bound(bias_.begin(), bias_.end(), patch.id,
                                 [](const Patch& b, int32_t id) { return b.id < id; });
    if (bias != bias_.end() && bias->id == patch.id) x += bias->logit;
    if (auto it = counts.find(patch.id); it != counts.end()) {
      const auto count = static_cast<float>(it->second);
      // Dividing a negative logit would make the token more likely, hence the multiplication.
      x = x <= 0.0f ? x * params_.repeat_penalty : x / params_.repeat_penalty;
      x -= count * params_.frequency_penalty + params_.presence_penalty;
    }
    patch.logit = x;
  }
}

// Calls visit(id, logit) in id order for every token whose (patched) logit exceeds floor(),
// and possibly for others: raw runs are skipped a block at a time when their max is <= floor().
// floor() is re-read after every block so it can rise as the scan goes.
template <typename Floor, typename Visit>
void Sampler::for_each_logit_above(std::span<const float> logits, Floor&& floor, Visit&& visit) const {
  const float* data = logits.data();
  auto scan_raw = [&](size_t begin, size_t end) {
    for (size_t block = begin; block < end; block += kBlock) {
      const size_t stop = std::min(end, block + kBlock);
      if (!(range_max(data + block, stop - block) > floor())) continue;
      for (size_t i = block; i < stop; ++i) visit(static_cast<int32_t>(i), data[i]);
    }
  };
  size_t pos = 0;
  for (const Patch& patch : patches_) {
    const auto id = static_cast<size_t>(patch.id);
    scan_raw(pos, id);
    visit(patch.id, patch.logit);
    pos = id + 1;
  }
  scan_raw(pos, logits.size());
}

// A bounded heap whose top is the weakest kept token: one comparison per token for all but the
// few that enter. NaN and -inf never pass `x > threshold`.
void Sampler::collect_top_k(std::span<const float> logits, size_t k) {
  auto& heap = candidates_.items;
  heap.clear();
  heap.reserve(k);
  float threshold = -INFINITY;
  auto floor = [&] { return threshold; };
  for_each_logit_above(logits, floor, [&](int32_t id, float x) {
    if (!(x > threshold)) return;
    if (heap.size() < k) {
      heap.push_back({id, x, 0.0f});
      std::push_heap(heap.begin(), heap.end(), higher_logit);
      if (heap.size() == k) threshold = heap.front().logit;
      return;
    }
    std::pop_heap(heap.begin(), heap.end(), higher_logit);
    heap.back() = {id, x, 0.0f};
    std::push_heap(heap.begin(), heap.end(), higher_logit);
    threshold = heap.front().logit;
  });
  std::sort_heap(heap.begin(), heap.end(), higher_logit);
  candidates_.sorted = true;
}

void Sampler::collect_all(std::span<const float> logits) {
  auto& items = candidates_.items;
  items.resize(logits.size());
  TokenProb* out = items.data();
  auto floor = [] { return -INFINITY; };
  for_each_logit_above(logits, floor, [&](int32_t id, float x) {
    if (x > -INFINITY) *out++ = {id, x, 0.0f};
  });
  items.resize(static_cast<size_t>(out - items.data()));
  candidates_.sorted = false;
}

// 53 random bits from two draws: the same doubles on every platform, unlike
// std::uniform_real_distribution whose algorithm the standard leaves open.
double Sampler::next_uniform() {
  const uint64_t high = rng_() >> 5;
  const uint64_t low = rng_() >> 6;
  return static_cast<double>((high << 26) | low) * (1.0 / 9007199254740992.0);
}

Result<int32_t> Sampler::sample(std::span<const float> logits) {
  if (logits.size() != static_cast<size_t>(n_vocab_)) {
    return invalid_argument("sampler got {} logits, expected one per vocabulary token ({})",
                            logits.size(), n_vocab_);
  }
  build_patches(logits);
  auto& items = candidates_.items;

  if (params_.temperature <= 0.0f) {
    float best = -INFINITY;
    int32_t best_id = -1;
    auto floor = [&] { return best; };
    for_each_logit_above(logits, floor, [&](int32_t id, float x) {
      if (x > best) {
        best = x;
        best_id = id;
      }
    });
    items.clear();
    if (best_id < 0) {
      return invalid_argument(
          "every logit is -infinity or NaN after logit_bias and penalties; nothing can be sampled");
    }
    items.push_back({best_id, best, 1.0f});
    candidates_.sorted = true;
    return best_id;
  }

  const auto k = static_cast<size_t>(params_.top_k);
  if (k > 0 && k < logits.size()) {
    collect_top_k(logits, k);
  } else {
    collect_all(logits);
  }
  if (items.empty()) {
    return invalid_argument(
        "every logit is -infinity or NaN after logit_bias and penalties; nothing can be sampled");
  }
  // +inf would turn the softmax into NaN: such tokens take all the mass, shared equally.
  if (std::any_of(items.begin(), items.end(), [](const TokenProb& t) { return t.logit == INFINITY; })) {
    std::erase_if(items, [](const TokenProb& t) { return t.logit != INFINITY; });
    for (TokenProb& t : items) t.logit = 0.0f;
  }

  const auto min_keep = static_cast<size_t>(params_.min_keep);
  apply_typical(candidates_, params_.typical_p, min_keep);
  apply_top_p(candidates_, params_.top_p, min_keep);
  apply_min_p(candidates_, params_.min_p, min_keep);
  apply_temperature(candidates_, params_.temperature);
  const size_t index = pick_by_probability(candidates_, next_uniform());
  return items[index].id;
}

std::vector<TokenProb> Sampler::top_candidates(size_t n) const {
  std::vector<TokenProb> out = candidates_.items;
  n = std::min(n, out.size());
  if (!candidates_.sorted) {
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(), higher_logit);
  }
  out.resize(n);
  return out;
}

}  // namespace strata::sampling
