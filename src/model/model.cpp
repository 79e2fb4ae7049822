// Model: the coordinator's embedding and head around a list of stages.
#include "model/model.h"

#include <fmt/format.h>

namespace strata::model {
namespace {

Status check_stage_ranges(const std::vector<LayerRange>& ranges, uint32_t n_layer) {
  uint32_t next = 0;
  for (const LayerRange& r : ranges) {
    if (r.begin != next || r.end <= r.begin || r.end > n_layer) {
      return invalid_argument("stage layer ranges must be non-empty, contiguous and cover layers 0 to {}; got [{}, {}) "
                              "where layer {} was expected next",
                              n_layer - 1, r.begin, r.end, next);
    }
    next = r.end;
  }
  if (next != n_layer) {
    return invalid_argument("stage layer ranges end at layer {}, but the model has {} layers", next, n_layer);
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Model>> Model::create_shell(const gguf::File& file, backend::Backend& backend,
                                                   const ModelConfig& config) {
  STRATA_ASSIGN_OR_RETURN(HParams hp, read_hparams(file));
  if (config.n_batch == 0) return invalid_argument("batch size is 0; use at least 1");
  std::unique_ptr<Model> model(new Model());
  model->file_ = file;
  model->hp_ = hp;
  model->config_ = config;
  model->backend_ = &backend;
  model->max_outputs_ = config.n_outputs == 0 ? config.kv.n_seq : config.n_outputs;
  if (model->max_outputs_ > config.n_batch) model->max_outputs_ = config.n_batch;
  STRATA_ASSIGN_OR_RETURN(model->head_, load_head_weights(model->file_, hp, backend));
  return model;
}

Status Model::allocate_buffers() {
  const uint64_t n_embd = hp_.n_embd;
  STRATA_ASSIGN_OR_RETURN(hidden_, backend_->allocate(uint64_t{config_.n_batch} * n_embd * sizeof(float),
                                                      "the hidden states of a batch"));
  STRATA_ASSIGN_OR_RETURN(head_in_, backend_->allocate(uint64_t{max_outputs_} * n_embd * sizeof(float),
                                                       "the head's input rows"));
  const uint64_t logits_floats = uint64_t{max_outputs_} * hp_.n_vocab;
  STRATA_ASSIGN_OR_RETURN(logits_dev_, backend_->allocate(logits_floats * sizeof(float), "the logits"));
  logits_.resize(logits_floats);
  return {};
}

Result<std::unique_ptr<Model>> Model::load(const gguf::File& file, backend::Backend& backend,
                                           const ModelConfig& config) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, create_shell(file, backend, config));
  const HParams& hp = model->hp_;
  if (model->config_.stages.empty()) model->config_.stages.push_back({0, hp.n_layer});
  STRATA_TRY(check_stage_ranges(model->config_.stages, hp.n_layer));
  for (const LayerRange& range : model->config_.stages) {
    StageConfig sc;
    sc.layers = range;
    sc.kv = config.kv;
    sc.flash_attn = config.flash_attn;
    sc.n_batch = config.n_batch;
    STRATA_ASSIGN_OR_RETURN(auto stage, Stage::create(backend, model->file_, hp, sc));
    model->stages_.push_back(std::move(stage));
  }
  STRATA_TRY(model->allocate_buffers());
  return model;
}

Result<std::unique_ptr<Model>> Model::assemble(const gguf::File& file, backend::Backend& backend,
                                               const ModelConfig& config,
                                               std::vector<std::unique_ptr<StageRunner>> stages) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Model> model, create_shell(file, backend, config));
  model->config_.stages.clear();
  for (const auto& stage : stages) {
    if (stage == nullptr) return invalid_argument("assembling a model: a stage is missing (null)");
    model->config_.stages.push_back(stage->layers());
  }
  STRATA_TRY(check_stage_ranges(model->config_.stages, model->hp_.n_layer));
  model->stages_ = std::move(stages);
  STRATA_TRY(model->allocate_buffers());
  return model;
}

std::span<const float> Model::logits(size_t i) const {
  if (i >= n_outputs_) return {};
  return std::span<const float>(logits_).subspan(i * hp_.n_vocab, hp_.n_vocab);
}

Status Model::forward(const BatchView& batch) {
  const size_t n = batch.tokens.size();
  n_outputs_ = 0;
  if (n == 0) return invalid_argument("empty batch: give at least one token");
  if (batch.positions.size() != n || batch.seq_ids.size() != n || batch.output.size() != n) {
    return invalid_argument("batch of {} tokens has {} positions, {} sequence ids and {} output flags; it needs one "
                            "of each per token",
                            n, batch.positions.size(), batch.seq_ids.size(), batch.output.size());
  }
  if (n > config_.n_batch) {
    return invalid_argument("a batch of {} tokens is larger than the batch size {} this model was loaded with", n,
                            config_.n_batch);
  }
  size_t wanted = 0;
  for (uint8_t flag : batch.output) wanted += flag != 0 ? 1 : 0;
  if (wanted > max_outputs_) {
    return invalid_argument("the batch asks for {} rows of logits; this model was loaded for at most {}", wanted,
                            max_outputs_);
  }

  STRATA_TRY(embed(batch));
  for (size_t s = 0; s < stages_.size(); ++s) {
    Status status = stages_[s]->forward(batch.meta(), hidden_->floats());
    if (!status.ok()) {
      // Earlier stages kept the batch: drop it again so every stage holds the same cells.
      for (size_t e = 0; e < s; ++e) {
        for (size_t t = 0; t < n; ++t) {
          (void)stages_[e]->trim(static_cast<uint32_t>(batch.seq_ids[t]), static_cast<uint64_t>(batch.positions[t]));
        }
      }
      return status;
    }
  }
  return head(batch);
}

Status Model::embed(const BatchView& batch) {
  return backend_->get_rows(head_.token_embd, batch.tokens, hidden_->floats());
}

// Final norm and lm head for the rows that want logits only.
Status Model::head(const BatchView& batch) {
  const size_t n = batch.tokens.size();
  const size_t n_embd = hp_.n_embd;
  size_t n_out = 0;
  for (size_t t = 0; t < n; ++t) {
    if (batch.output[t] == 0) continue;
    STRATA_TRY(backend_->copy(head_in_->floats() + n_out * n_embd, hidden_->floats() + t * n_embd,
                              n_embd * sizeof(float)));
    ++n_out;
  }
  if (n_out == 0) return {};
  float* x = head_in_->floats();
  const auto rows = static_cast<int64_t>(n_out);
  STRATA_TRY(backend_->rms_norm(x, head_.output_norm, x, rows, hp_.n_embd, hp_.rms_norm_eps));
  STRATA_TRY(backend_->matmul(head_.output, x, rows, logits_dev_->floats(), hp_.n_vocab));
  STRATA_TRY(backend_->read(logits_.data(), logits_dev_->floats(), n_out * hp_.n_vocab * sizeof(float)));
  n_outputs_ = n_out;
  return {};
}

Status Model::clear(uint32_t seq) {
  for (auto& stage : stages_) STRATA_TRY(stage->clear(seq));
  return {};
}

Status Model::trim(uint32_t seq, uint64_t n) {
  for (auto& stage : stages_) STRATA_TRY(stage->trim(seq, n));
  return {};
}

Status Model::copy(uint32_t src, uint32_t dst, uint64_t n) {
  for (auto& stage : stages_) STRATA_TRY(stage->copy(src, dst, n));
  return {};
}

uint64_t Model::length(uint32_t seq) const { return stages_.empty() ? 0 : stages_.front()->length(seq); }

uint64_t Model::n_ctx_per_seq() const { return stages_.empty() ? 0 : stages_.front()->n_ctx_per_seq(); }

uint64_t Model::weight_bytes() const {
  uint64_t total = head_.bytes;
  for (const auto& stage : stages_) total += stage->weight_bytes();
  return total;
}

uint64_t Model::kv_bytes() const {
  uint64_t total = 0;
  for (const auto& stage : stages_) total += stage->kv_bytes();
  return total;
}

}  // namespace strata::model
