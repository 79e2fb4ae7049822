// generate(): prompt batch, then the sample -> feed loop with timings.
#include "engine/generator.h"

#include <algorithm>
#include <chrono>

#include "engine/batch.h"
#include "sampling/sampler.h"

namespace strata::engine {
namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Result<GenerateResult> generate(model::Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                                const TokenCallback& on_token) {
  const model::HParams& hp = model.hparams();
  const uint64_t n_ctx_seq = model.n_ctx_per_seq();
  const auto n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt == 0) return invalid_argument("the prompt is empty; give at least one token");
  if (options.n_predict < 0) {
    return invalid_argument("-n {} is negative; give the number of tokens to generate (0 or more)", options.n_predict);
  }
  if (static_cast<uint64_t>(n_prompt) > n_ctx_seq) {
    return invalid_argument("the prompt has {} tokens, more than the context of {} cells; use -c {} or more", n_prompt,
                            n_ctx_seq, n_prompt);
  }
  // The prompt goes in batches of at most n_batch tokens; each returns its rows of logits.
  const int64_t n_batch = std::min<int64_t>(model.config().n_batch,
                                            options.prompt_logits ? model.max_outputs() : INT64_MAX);
  for (int64_t i = 0; i < n_prompt; ++i) {
    if (prompt[i] < 0 || static_cast<uint64_t>(prompt[i]) >= hp.n_vocab) {
      return invalid_argument("prompt token {} (at index {}) is not in the vocabulary of {} tokens (ids 0 to {})",
                              prompt[i], i, hp.n_vocab, hp.n_vocab - 1);
    }
  }
  STRATA_ASSIGN_OR_RETURN(sampling::Sampler sampler,
                          sampling::Sampler::create(options.sampling, static_cast<int32_t>(hp.n_vocab)));
  for (int32_t token : prompt) STRATA_TRY(sampler.accept(token));
  STRATA_TRY(model.clear(options.seq));

  GenerateResult result;
  result.n_prompt = n_prompt;
  result.generated.reserve(static_cast<size_t>(options.n_predict));
  const auto seq = static_cast<int32_t>(options.seq);

  Batch batch(static_cast<size_t>(std::min(n_prompt, n_batch)));
  auto start = std::chrono::steady_clock::now();
  if (options.prompt_logits) result.prompt_logits.reserve(static_cast<size_t>(n_prompt) * hp.n_vocab);
  for (int64_t first = 0; first < n_prompt; first += n_batch) {
    const int64_t end = std::min(n_prompt, first + n_batch);
    batch.clear();
    for (int64_t i = first; i < end; ++i) {
      batch.add(prompt[i], static_cast<int32_t>(i), seq, options.prompt_logits || i + 1 == n_prompt);
    }
    STRATA_TRY(model.forward(batch.view()));
    if (options.prompt_logits) {
      for (size_t i = 0; i < model.n_outputs(); ++i) {
        const std::span<const float> row = model.logits(i);
        result.prompt_logits.insert(result.prompt_logits.end(), row.begin(), row.end());
      }
    }
  }
  result.prompt_ms = ms_since(start);

  start = std::chrono::steady_clock::now();
  int64_t position = n_prompt;
  std::span<const float> logits = model.logits(model.n_outputs() - 1);
  for (int32_t step = 0; step < options.n_predict; ++step) {
    STRATA_ASSIGN_OR_RETURN(const int32_t token, sampler.sample(logits));
    STRATA_TRY(sampler.accept(token));
    result.generated.push_back(token);
    if (on_token) STRATA_TRY(on_token(token));
    if (std::find(options.end_tokens.begin(), options.end_tokens.end(), token) != options.end_tokens.end()) {
      result.ended_by_token = true;
      break;
    }
    if (step + 1 == options.n_predict) break;  // the last token needs no forward pass
    if (static_cast<uint64_t>(position) >= n_ctx_seq) {
      result.ended_by_context = true;
      break;
    }
    batch.clear();
    batch.add(token, static_cast<int32_t>(position), seq, true);
    STRATA_TRY(model.forward(batch.view()));
    ++position;
    ++result.n_decode;
    logits = model.logits(0);
  }
  result.decode_ms = ms_since(start);
  return result;
}

}  // namespace strata::engine
