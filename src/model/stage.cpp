// Stage::forward: the Llama / Qwen2 layer written out op by op against the Backend interface.
#include "model/stage.h"

#include <fmt/format.h>

#include <cmath>
#include <string>

namespace strata::model {
namespace {

constexpr size_t kScratchAlign = 64;

size_t aligned_floats(uint64_t n) {
  const uint64_t per = kScratchAlign / sizeof(float);
  return static_cast<size_t>((n + per - 1) / per * per);
}

}  // namespace

Result<backend::RopeParams> rope_params(const gguf::File& file, const HParams& hp, std::vector<float> freq_factors) {
  backend::RopeParams params;
  params.head_dim = hp.head_dim_k;
  params.rope_dim = hp.rope_dim;
  params.mode = hp.rope_type == RopeType::kNeox ? backend::RopeMode::kNeox : backend::RopeMode::kNormal;
  params.freq_base = hp.rope_freq_base;
  params.freq_factors = std::move(freq_factors);

  const std::string prefix = std::string(arch_name(hp.arch)) + ".rope.scaling.";
  std::string type = "linear";  // llama.cpp's default when only a factor is given
  if (const gguf::Value* value = file.find(prefix + "type"); value != nullptr) {
    if (value->as_string() == nullptr) {
      return invalid_argument("{}type is {}; expected a string such as none or linear", prefix, value->to_display());
    }
    type = *value->as_string();
  }
  if (type != "none" && type != "linear") {
    return unsupported("{}type is '{}'; strata supports none and linear RoPE scaling (and Llama 3's rope_freqs)",
                       prefix, type);
  }
  if (const gguf::Value* value = file.find(prefix + "factor"); value != nullptr && type == "linear") {
    const std::optional<double> factor = value->as_number();
    if (!factor.has_value() || !std::isfinite(*factor) || *factor < 0.0) {
      return invalid_argument("{}factor is {}; expected a positive number", prefix, value->to_display());
    }
    if (*factor > 0.0) params.freq_scale = static_cast<float>(1.0 / *factor);
  }
  return params;
}

Result<std::unique_ptr<Stage>> Stage::create(backend::Backend& backend, const gguf::File& file, const HParams& hp,
                                             const StageConfig& config) {
  if (config.n_batch == 0) return invalid_argument("batch size is 0; a stage needs room for at least one token");
  if (hp.head_dim_k != hp.head_dim_v) {
    return unsupported("K head dim {} differs from V head dim {}; strata's llama/qwen2 layers need them equal",
                       hp.head_dim_k, hp.head_dim_v);
  }
  STRATA_ASSIGN_OR_RETURN(StageWeights weights, load_stage_weights(file, hp, config.layers, backend));
  const kv::KvShape shape{config.layers.size(), hp.n_head_kv, hp.head_dim_k, hp.head_dim_v};
  STRATA_ASSIGN_OR_RETURN(kv::KvCache kv, kv::KvCache::create(backend, shape, config.kv));
  STRATA_ASSIGN_OR_RETURN(backend::RopeParams rope, rope_params(file, hp, weights.rope_freq_factors));

  std::unique_ptr<Stage> stage(new Stage(backend, hp, std::move(weights), std::move(kv), config.flash_attn,
                                         config.n_batch));
  STRATA_ASSIGN_OR_RETURN(stage->rope_, backend.create_rope(rope));
  stage->runs_.reserve(config.n_batch);

  const uint64_t n = config.n_batch;
  const size_t embd = aligned_floats(n * hp.n_embd);
  const size_t q = aligned_floats(n * hp.n_head * hp.head_dim_k);
  const size_t kv_width = aligned_floats(n * hp.n_head_kv * hp.head_dim_k);
  const size_t ff = aligned_floats(n * hp.n_ff);
  const size_t total = 2 * embd + 2 * q + 2 * kv_width + 2 * ff;
  STRATA_ASSIGN_OR_RETURN(stage->scratch_,
                          backend.allocate(total * sizeof(float),
                                           fmt::format("activations of layers {}-{} for a batch of {} tokens",
                                                       config.layers.begin, config.layers.end - 1, n)));
  float* p = stage->scratch_->floats();
  stage->xn_ = p, p += embd;
  stage->proj_ = p, p += embd;
  stage->q_ = p, p += q;
  stage->attn_ = p, p += q;
  stage->k_ = p, p += kv_width;
  stage->v_ = p, p += kv_width;
  stage->gate_ = p, p += ff;
  stage->up_ = p;
  return stage;
}

Status Stage::forward(const BatchMeta& batch, float* x) {
  const int64_t n = batch.n_tokens();
  if (n < 1 || n > n_batch_) {
    return invalid_argument("a batch of {} tokens does not fit this stage: use 1 to {} tokens (the batch size)", n,
                            n_batch_);
  }
  if (x == nullptr) return invalid_argument("stage forward: no hidden states given");
  STRATA_TRY(kv_.check_batch(batch.seq_ids, batch.positions));

  runs_.clear();
  for (int64_t t = 0; t < n; ++t) {
    const auto seq = static_cast<uint32_t>(batch.seq_ids[t]);
    if (runs_.empty() || runs_.back().seq != seq) {
      runs_.push_back({t, t + 1, seq});
    } else {
      runs_.back().end = t + 1;
    }
  }
  STRATA_TRY(rope_->set_positions(batch.positions));

  for (uint32_t il = 0; il < weights_.layers.size(); ++il) {
    const LayerWeights& w = weights_.layers[il];
    STRATA_TRY(attention_block(il, w, batch, x));
    STRATA_TRY(ffn_block(w, n, x));
  }
  kv_.commit_batch(batch.seq_ids, batch.positions);
  return {};
}

// x += attn_output(attention(rope(q), rope(k), v)), with q, k, v projections of rms_norm(x).
Status Stage::attention_block(uint32_t il, const LayerWeights& w, const BatchMeta& batch, float* x) {
  backend::Backend& b = *backend_;
  const int64_t n = batch.n_tokens();
  const int64_t n_embd = hp_.n_embd;
  const int64_t q_width = int64_t{hp_.n_head} * hp_.head_dim_k;
  const int64_t kv_width = int64_t{hp_.n_head_kv} * hp_.head_dim_k;

  STRATA_TRY(b.rms_norm(x, w.attn_norm, xn_, n, n_embd, hp_.rms_norm_eps));
  const backend::Backend::Product qkv[] = {{&w.attn_q, q_, q_width}, {&w.attn_k, k_, kv_width},
                                           {&w.attn_v, v_, kv_width}};
  STRATA_TRY(b.matmul_group(qkv, xn_, n));
  if (!w.attn_q_bias.empty()) STRATA_TRY(b.add_bias(q_, w.attn_q_bias, n, q_width));
  if (!w.attn_k_bias.empty()) STRATA_TRY(b.add_bias(k_, w.attn_k_bias, n, kv_width));
  if (!w.attn_v_bias.empty()) STRATA_TRY(b.add_bias(v_, w.attn_v_bias, n, kv_width));
  STRATA_TRY(b.rope(q_, n, hp_.n_head, *rope_));
  STRATA_TRY(b.rope(k_, n, hp_.n_head_kv, *rope_));
  STRATA_TRY(store_kv(il, batch));
  STRATA_TRY(attend(il, batch));
  STRATA_TRY(b.matmul(w.attn_output, attn_, n, proj_, n_embd));
  return b.add(x, proj_, x, n, n_embd);
}

// x += ffn_down(silu(ffn_gate(h)) * ffn_up(h)), h = rms_norm(x).
Status Stage::ffn_block(const LayerWeights& w, int64_t n, float* x) {
  backend::Backend& b = *backend_;
  const int64_t n_embd = hp_.n_embd;
  const int64_t n_ff = hp_.n_ff;
  STRATA_TRY(b.rms_norm(x, w.ffn_norm, xn_, n, n_embd, hp_.rms_norm_eps));
  const backend::Backend::Product gate_up[] = {{&w.ffn_gate, gate_, n_ff}, {&w.ffn_up, up_, n_ff}};
  STRATA_TRY(b.matmul_group(gate_up, xn_, n));
  STRATA_TRY(b.swiglu(gate_, up_, gate_, n, n_ff));
  STRATA_TRY(b.matmul(w.ffn_down, gate_, n, proj_, n_embd));
  return b.add(x, proj_, x, n, n_embd);
}

// The batch's K and V rows go to their sequences' cells (cell = position).
Status Stage::store_kv(uint32_t il, const BatchMeta& batch) {
  const int64_t width = int64_t{hp_.n_head_kv} * hp_.head_dim_k;
  for (const Run& run : runs_) {
    const auto first = static_cast<uint64_t>(batch.positions[run.begin]);
    const int64_t rows = run.end - run.begin;
    STRATA_TRY(backend_->write_kv(kv_.type_k(), k_ + run.begin * width, rows, width, kv_.k_cell(il, run.seq, first),
                                  kv_.k_row_bytes(), width));
    STRATA_TRY(backend_->write_kv(kv_.type_v(), v_ + run.begin * width, rows, width, kv_.v_cell(il, run.seq, first),
                                  kv_.v_row_bytes(), width));
  }
  return {};
}

// Each run of one sequence attends to that sequence's cells up to its last position.
Status Stage::attend(uint32_t il, const BatchMeta& batch) {
  const int64_t q_width = int64_t{hp_.n_head} * hp_.head_dim_k;
  for (const Run& run : runs_) {
    backend::AttentionCall call;
    call.q = q_ + run.begin * q_width;
    call.positions = batch.positions.subspan(static_cast<size_t>(run.begin), static_cast<size_t>(run.end - run.begin));
    call.k_type = kv_.type_k();
    call.k = kv_.k_cell(il, run.seq, 0);
    call.k_stride = kv_.k_row_bytes();
    call.v_type = kv_.type_v();
    call.v = kv_.v_cell(il, run.seq, 0);
    call.v_stride = kv_.v_row_bytes();
    call.n_kv = int64_t{batch.positions[run.end - 1]} + 1;  // positions within a run increase by 1
    call.n_head = static_cast<int>(hp_.n_head);
    call.n_head_kv = static_cast<int>(hp_.n_head_kv);
    call.head_dim = static_cast<int>(hp_.head_dim_k);
    call.scale = 1.0f / std::sqrt(static_cast<float>(hp_.head_dim_k));
    call.flash = flash_;
    call.out = attn_ + run.begin * q_width;
    STRATA_TRY(backend_->attention(call));
  }
  return {};
}

}  // namespace strata::model
