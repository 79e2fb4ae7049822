// Time to pick one token from a full logits vector: default chain, greedy, no top-k, penalties.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "sampling/sampler.h"

namespace {

using strata::sampling::Sampler;
using strata::sampling::SamplingParams;

// Roughly the shape of real logits: a broad bulk and a handful of strong candidates.
std::vector<float> make_logits(int32_t n_vocab) {
  std::mt19937 gen(12345);
  std::normal_distribution<float> bulk(0.0f, 2.5f);
  std::vector<float> logits(static_cast<size_t>(n_vocab));
  for (float& l : logits) l = bulk(gen);
  std::uniform_int_distribution<int32_t> pick(0, n_vocab - 1);
  for (int i = 0; i < 8; ++i) logits[static_cast<size_t>(pick(gen))] = 14.0f + static_cast<float>(i);
  return logits;
}

void run(benchmark::State& state, SamplingParams params, bool accept) {
  const auto n_vocab = static_cast<int32_t>(state.range(0));
  const std::vector<float> logits = make_logits(n_vocab);
  params.seed = 42;
  auto created = Sampler::create(params, n_vocab);
  if (!created.ok()) {
    state.SkipWithError(created.status().message().c_str());
    return;
  }
  Sampler sampler = std::move(created).value();
  // A full penalty window, as in the middle of a generation.
  for (int32_t t = 0; t < 64; ++t) (void)sampler.accept((t * 977) % n_vocab);
  for (auto _ : state) {
    auto token = sampler.sample(logits);
    benchmark::DoNotOptimize(token);
    if (accept && token.ok()) (void)sampler.accept(*token);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_sample_default_chain(benchmark::State& state) { run(state, SamplingParams{}, false); }

void BM_sample_greedy(benchmark::State& state) {
  SamplingParams p;
  p.temperature = 0.0f;
  run(state, p, false);
}

// top_k off: top-p and min-p over the whole vocabulary.
void BM_sample_no_top_k(benchmark::State& state) {
  SamplingParams p;
  p.top_k = 0;
  run(state, p, false);
}

void BM_sample_with_penalties(benchmark::State& state) {
  SamplingParams p;
  p.repeat_penalty = 1.1f;
  p.frequency_penalty = 0.2f;
  p.presence_penalty = 0.2f;
  run(state, p, true);
}

}  // namespace

BENCHMARK(BM_sample_default_chain)->Arg(32000)->Arg(128256)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_sample_greedy)->Arg(32000)->Arg(128256)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_sample_no_top_k)->Arg(32000)->Arg(128256)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_sample_with_penalties)->Arg(32000)->Arg(128256)->Unit(benchmark::kMicrosecond);
