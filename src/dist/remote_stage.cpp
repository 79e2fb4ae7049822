// RemoteStage: the chain of worker stages, its Results stream and its recovery.
#include "dist/remote_stage.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "dist/hidden_codec.h"
#include "dist/micro_batches.h"
#include "kv/kv_memory.h"
#include "quant/type.h"

namespace strata::dist {
namespace {

constexpr auto kProbeInterval = std::chrono::seconds(2);
constexpr auto kFirstBackoff = std::chrono::milliseconds(250);
constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);

std::string type_list(const google::protobuf::RepeatedField<uint32_t>& ids) {
  std::string out;
  for (uint32_t id : ids) {
    const quant::TypeInfo* info = quant::find_type(id);
    if (!out.empty()) out += ", ";
    out += info != nullptr ? std::string(info->name) : std::to_string(id);
  }
  return out.empty() ? "none" : out;
}

bool contains(const google::protobuf::RepeatedField<uint32_t>& ids, uint32_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// Errors that mean the worker (or its stage) is gone rather than that the request was wrong.
bool is_connection_failure(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kDeadlineExceeded:
    case ErrorCode::kCancelled:
    case ErrorCode::kNotFound:
    case ErrorCode::kInternal:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct RemoteStage::Results {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::ForwardReply>> reader;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable changed;
  std::map<uint64_t, v1::ForwardReply> ready;
  bool open = false;
  bool ended = false;
  std::string end_message;
};

Result<std::unique_ptr<RemoteStage>> RemoteStage::create(const gguf::File& file, backend::Backend& backend,
                                                         const model::ModelConfig& config,
                                                         std::vector<RemoteHopPlan> hops, RemoteStageOptions options) {
  if (hops.empty()) return invalid_argument("a remote stage needs at least one worker");
  std::unique_ptr<RemoteStage> stage(new RemoteStage());
  stage->file_ = &file;
  stage->backend_ = &backend;
  STRATA_ASSIGN_OR_RETURN(stage->hp_, model::read_hparams(file));
  stage->config_ = config;
  stage->options_ = std::move(options);
  stage->plans_ = std::move(hops);
  for (size_t i = 0; i < stage->plans_.size(); ++i) {
    const RemoteHopPlan& plan = stage->plans_[i];
    if (i > 0 && plan.layers.begin != stage->plans_[i - 1].layers.end) {
      return invalid_argument("remote stages must be consecutive: layers {} follow {}", plan.layers.begin,
                              stage->plans_[i - 1].layers.end);
    }
    STRATA_ASSIGN_OR_RETURN(StageIdentity id, stage->options_.identities.identity(file, plan.layers));
    stage->weight_bytes_ += id.tensor_bytes;
    stage->identities_.push_back(id);
  }
  const model::LayerRange all = stage->layers();
  const kv::KvShape shape{all.size(), stage->hp_.n_head_kv, stage->hp_.head_dim_k, stage->hp_.head_dim_v};
  STRATA_ASSIGN_OR_RETURN(kv::KvMemory kv, kv::estimate_kv_memory(shape, config.kv));
  stage->n_ctx_per_seq_ = kv.n_ctx_per_seq;
  stage->kv_bytes_ = kv.total_bytes();
  stage->lengths_.assign(config.kv.n_seq, 0);
  stage->next_.assign(config.kv.n_seq, 0);
  stage->session_ = std::random_device{}() | (uint64_t{std::random_device{}()} << 32) | 1;
  // Request ids from a random base, so a restarted coordinator's do not match ones a worker
  // still remembers (micro-batch ordering looks them up).
  stage->next_request_ = (stage->session_ & 0xffffffffull) << 24 | 1;

  STRATA_TRY(stage->connect_all(stage->hops_));
  stage->options_.connected.clear();  // those of workers that got no layers
  if (stage->hops_.size() > 1) STRATA_TRY(stage->open_results());
  stage->monitor_ = std::thread([s = stage.get()] { s->monitor(); });
  return stage;
}

RemoteStage::~RemoteStage() {
  {
    std::lock_guard lock(monitor_mutex_);
    stopping_ = true;
  }
  monitor_wake_.notify_all();
  if (monitor_.joinable()) monitor_.join();
  std::lock_guard lock(mutex_);
  close_results();
}

model::LayerRange RemoteStage::layers() const { return {plans_.front().layers.begin, plans_.back().layers.end}; }

Status RemoteStage::connect_all(std::vector<Hop>& out) {
  std::vector<Hop> hops;
  for (const RemoteHopPlan& plan : plans_) {
    Hop hop;
    hop.plan = plan;
    const auto kept = std::find_if(options_.connected.begin(), options_.connected.end(), [&](const auto& c) {
      return c != nullptr && c->address() == plan.address;
    });
    if (kept != options_.connected.end()) {
      hop.client = std::move(*kept);
    } else {
      STRATA_ASSIGN_OR_RETURN(hop.client, WorkerClient::connect(plan.address, options_.client));
    }
    STRATA_TRY(prepare_hop(hop));
    hops.push_back(std::move(hop));
  }
  out = std::move(hops);
  return {};
}

Status RemoteStage::prepare_hop(Hop& hop) {
  const v1::HandshakeReply& info = hop.client->info();
  const std::string& who = hop.plan.address;
  const model::LayerRange r = hop.plan.layers;
  const auto type_k = static_cast<uint32_t>(config_.kv.type_k);
  const auto type_v = static_cast<uint32_t>(config_.kv.type_v);
  if (!contains(info.kv_types(), type_k) || !contains(info.kv_types(), type_v)) {
    return unsupported("worker {} cannot hold a {}/{} KV cache: its cache types are {}", who,
                       quant::type_name(config_.kv.type_k), quant::type_name(config_.kv.type_v),
                       type_list(info.kv_types()));
  }
  if (info.head_dims_size() > 0 && !contains(info.head_dims(), hp_.head_dim_k)) {
    return unsupported("worker {} cannot run attention with head size {}: it supports {}", who, hp_.head_dim_k,
                       type_list(info.head_dims()));
  }
  STRATA_ASSIGN_OR_RETURN(auto tensors, stage_tensors(*file_, r));
  for (const auto* t : tensors) {
    if (t->ne.size() >= 2 && !contains(info.weight_types(), static_cast<uint32_t>(t->type))) {
      return unsupported("worker {} cannot multiply {} weights ({}); it supports {}", who, quant::type_name(t->type),
                         t->name, type_list(info.weight_types()));
    }
  }
  const auto plan = std::find_if(plans_.begin(), plans_.end(),
                                 [&](const RemoteHopPlan& p) { return p.layers.begin == r.begin; });
  const size_t index = static_cast<size_t>(plan - plans_.begin());
  const StageIdentity& id = identities_[index];
  v1::PrepareRequest request;
  request.set_content_hash(id.content.hex());
  request.set_shape_hash(id.shape.hex());
  request.set_layer_begin(r.begin);
  request.set_layer_end(r.end);
  request.set_type_k(type_k);
  request.set_type_v(type_v);
  request.set_n_ctx(config_.kv.n_ctx);
  request.set_n_seq(config_.kv.n_seq);
  request.set_n_batch(config_.n_batch);
  request.set_flash_attn(config_.flash_attn);
  request.set_model_name(hp_.name);
  STRATA_ASSIGN_OR_RETURN(v1::PrepareReply reply, hop.client->prepare(request));
  if (reply.needs_upload()) {
    spdlog::info("worker {} has no copy of layers {}-{}: sending {:.1f} MiB", who, r.begin, r.end - 1,
                 id.tensor_bytes / 1048576.0);
    STRATA_TRY(hop.client->upload(*file_, r, id, hp_.n_vocab, options_.upload_progress));
    uploaded_bytes_ += id.tensor_bytes;
    STRATA_ASSIGN_OR_RETURN(reply, hop.client->prepare(request));
    if (reply.needs_upload()) return internal_error("worker {} asked for layers {}-{} again after receiving them", who, r.begin, r.end - 1);
  }
  if (reply.n_embd() != hp_.n_embd) {
    return corrupt("worker {} prepared a stage of width {}, the model has {}", who, reply.n_embd(), hp_.n_embd);
  }
  spdlog::info("worker {}: layers {}-{} ready ({})", who, r.begin, r.end - 1, reply.source());
  hop.stage_id = reply.stage_id();
  return {};
}

Status RemoteStage::open_results() {
  close_results();
  auto results = std::make_shared<Results>();
  results->reader = hops_.back().client->open_results(results->context, session_);
  Results* r = results.get();
  r->thread = std::thread([r] {
    v1::ForwardReply reply;
    while (r->reader->Read(&reply)) {
      std::lock_guard lock(r->mutex);
      if (reply.request_id() == 0) {
        r->open = true;
      } else {
        r->ready[reply.request_id()] = std::move(reply);
      }
      r->changed.notify_all();
    }
    grpc::Status status = r->reader->Finish();
    std::lock_guard lock(r->mutex);
    r->ended = true;
    r->end_message = status.error_message();
    r->changed.notify_all();
  });
  results_ = std::move(results);
  std::unique_lock lock(r->mutex);
  r->changed.wait_for(lock, options_.client.call_timeout, [r] { return r->open || r->ended; });
  if (!r->open) {
    return unavailable("worker {}: its results stream did not open ({})", hops_.back().plan.address,
                       r->ended ? r->end_message : "no answer in time");
  }
  return {};
}

void RemoteStage::close_results() {
  if (!results_) return;
  results_->context.TryCancel();
  if (results_->thread.joinable()) results_->thread.join();
  results_.reset();
}

Status RemoteStage::check_batch(const model::BatchMeta& batch) const {
  const size_t n = batch.positions.size();
  if (n == 0 || batch.seq_ids.size() != n) {
    return invalid_argument("batch of {} positions and {} sequence ids; give one of each per token, at least one", n,
                            batch.seq_ids.size());
  }
  std::vector<uint64_t>& next = next_;
  for (size_t i = 0; i < n; ++i) {
    const int32_t seq = batch.seq_ids[i];
    if (seq < 0 || static_cast<size_t>(seq) >= lengths_.size()) {
      return invalid_argument("batch token {}: sequence id {} is out of range; use 0 to {} (-np {})", i, seq,
                              lengths_.size() - 1, lengths_.size());
    }
    next[static_cast<size_t>(seq)] = lengths_[static_cast<size_t>(seq)];
  }
  for (size_t i = 0; i < n; ++i) {
    const auto seq = static_cast<size_t>(batch.seq_ids[i]);
    if (batch.positions[i] != static_cast<int64_t>(next[seq])) {
      return invalid_argument("batch token {}: sequence {} holds {} cells, so its next token must have position {}, "
                              "not {}",
                              i, seq, lengths_[seq], next[seq], batch.positions[i]);
    }
    if (next[seq] >= n_ctx_per_seq_) {
      return resource_exhausted("sequence {} is full: its {} cells cannot take position {}; use a larger -c", seq,
                                n_ctx_per_seq_, batch.positions[i]);
    }
    ++next[seq];
  }
  return {};
}

void RemoteStage::mark_failed(const Status& status) {
  {
    std::lock_guard lock(health_mutex_);
    if (healthy_.load()) {
      health_.ok = false;
      health_.reason = status.message();
      spdlog::warn("distributed stage degraded: {}", status.message());
    }
    healthy_ = false;
  }
  monitor_wake_.notify_all();
}

Health RemoteStage::health() const {
  std::lock_guard lock(health_mutex_);
  return health_;
}

Status RemoteStage::forward(const model::BatchMeta& batch, float* hidden) {
  if (!healthy_.load()) {
    return unavailable("{} (reconnecting)", health().reason);
  }
  if (hidden == nullptr) return invalid_argument("remote stage forward: no hidden states given");
  std::lock_guard lock(mutex_);
  STRATA_TRY(check_batch(batch));
  const size_t n = batch.positions.size();
  const size_t n_embd = hp_.n_embd;
  host_.resize(n * n_embd);
  STRATA_TRY(backend_->read(host_.data(), hidden, host_.size() * sizeof(float)));
  const v1::HiddenType type = options_.f16_hidden ? v1::HIDDEN_F16 : v1::HIDDEN_F32;
  const bool chained = hops_.size() > 1;
  if (chained) {
    bool stream_ok = results_ != nullptr;
    if (stream_ok) {
      std::lock_guard rl(results_->mutex);
      stream_ok = !results_->ended;
    }
    if (!stream_ok) {
      Status status = open_results();
      if (!status.ok()) {
        mark_failed(status);
        return status;
      }
    }
  }

  // Micro-batches: consecutive token ranges, each run on a stage after the one before it, so
  // the first worker starts on the next while the second works on this one.
  const TokenRanges ranges = !chained                      ? TokenRanges{{0, n}}
                             : options_.micro_batches == 0 ? split_at_sequences(batch.seq_ids, hops_.size())
                                                           : split_evenly(n, options_.micro_batches);
  const size_t k = ranges.size();
  std::vector<v1::ForwardRequest> requests(k);
  for (size_t c = 0; c < k; ++c) {
    const auto [begin, end] = ranges[c];
    v1::ForwardRequest& request = requests[c];
    request.set_stage_id(hops_.front().stage_id);
    request.set_request_id(next_request_++);
    request.mutable_positions()->Add(batch.positions.begin() + begin, batch.positions.begin() + end);
    request.mutable_seq_ids()->Add(batch.seq_ids.begin() + begin, batch.seq_ids.begin() + end);
    request.set_hidden_type(type);
    encode_hidden(std::span<const float>(host_).subspan(begin * n_embd, (end - begin) * n_embd), type,
                  *request.mutable_hidden());
    for (size_t h = 1; h < hops_.size(); ++h) {
      v1::Hop* hop = request.add_next();
      hop->set_address(hops_[h].plan.address);
      hop->set_stage_id(hops_[h].stage_id);
    }
    if (chained) request.set_result_session(session_);
    if (c > 0) request.set_after_request(requests[c - 1].request_id());
    bytes_sent_ += request.hidden().size();
  }

  micro_batches_sent_ += k;
  // Everything before the remote layers is done; this process waits for the workers now.
  backend_->release_idle_threads();
  std::vector<v1::ForwardReply> replies(k);
  Status failed;
  if (!chained) {
    failed = hops_.front().client->forward(requests[0], &replies[0]);
  } else {
    // Outputs come from the last worker on the Results stream; the calls to the first one only
    // report failures (their acknowledgements travel back through every stage).
    std::shared_ptr<Results> shared = results_;
    Results& r = *shared;
    auto outcomes = std::make_shared<std::vector<std::optional<Status>>>(k);
    for (size_t c = 0; c < k; ++c) {
      hops_.front().client->forward_async(requests[c], [shared, outcomes, c](Status status, const v1::ForwardReply&) {
        std::lock_guard rl(shared->mutex);
        (*outcomes)[c] = std::move(status);
        shared->changed.notify_all();
      });
    }
    std::unique_lock rl(r.mutex);
    const auto first_error = [&]() -> const Status* {
      for (const auto& o : *outcomes) {
        if (o.has_value() && !o->ok()) return &*o;
      }
      return nullptr;
    };
    const auto all_arrived = [&] {
      for (const auto& request : requests) {
        if (r.ready.count(request.request_id()) == 0) return false;
      }
      return true;
    };
    const bool settled = r.changed.wait_for(rl, options_.client.forward_timeout,
                                            [&] { return all_arrived() || r.ended || first_error() != nullptr; });
    if (all_arrived()) {
      for (size_t c = 0; c < k; ++c) {
        auto it = r.ready.find(requests[c].request_id());
        replies[c] = std::move(it->second);
        r.ready.erase(it);
      }
    } else {
      const Status* error = first_error();
      failed = error != nullptr ? *error
                                : unavailable("worker {}: the output of request {} never arrived ({})",
                                              hops_.back().plan.address, requests.back().request_id(),
                                              r.ended ? r.end_message : (settled ? "stream ended" : "no answer in time"));
      for (const auto& request : requests) r.ready.erase(request.request_id());
    }
  }
  if (!failed.ok()) {
    if (is_connection_failure(failed)) {
      mark_failed(failed);
      return Status(ErrorCode::kUnavailable, failed.message());
    }
    if (k > 1) {
      // Some micro-batches may have run on some stages: take every stage back to before the batch.
      for (size_t i = 0; i < n; ++i) {
        v1::SequenceOpRequest trim;
        trim.set_op(v1::SequenceOpRequest::TRIM);
        trim.set_seq(static_cast<uint32_t>(batch.seq_ids[i]));
        trim.set_n(lengths_[static_cast<size_t>(batch.seq_ids[i])]);
        (void)sequence_op_all(trim);
      }
    }
    return failed;
  }
  for (size_t c = 0; c < k; ++c) {
    const auto [begin, end] = ranges[c];
    bytes_received_ += replies[c].hidden().size();
    STRATA_TRY(decode_hidden(replies[c].hidden(), replies[c].hidden_type(),
                             std::span<float>(host_).subspan(begin * n_embd, (end - begin) * n_embd))
                   .with_context(fmt::format("output of worker {}", hops_.back().plan.address)));
  }
  STRATA_TRY(backend_->write(hidden, host_.data(), host_.size() * sizeof(float)));
  for (size_t i = 0; i < n; ++i) {
    const auto seq = static_cast<size_t>(batch.seq_ids[i]);
    lengths_[seq] = std::max<uint64_t>(lengths_[seq], static_cast<uint64_t>(batch.positions[i]) + 1);
  }
  return {};
}

Status RemoteStage::sequence_op_all(const v1::SequenceOpRequest& request) {
  if (!healthy_.load()) return unavailable("{} (reconnecting)", health().reason);
  for (Hop& hop : hops_) {
    v1::SequenceOpRequest r = request;
    r.set_stage_id(hop.stage_id);
    Status status = hop.client->sequence_op(r);
    if (!status.ok()) {
      if (is_connection_failure(status)) mark_failed(status);
      return status;
    }
  }
  return {};
}

Status RemoteStage::clear(uint32_t seq) {
  std::lock_guard lock(mutex_);
  if (seq >= lengths_.size()) {
    return invalid_argument("clear: sequence {} does not exist; the cache has sequences 0 to {} (-np {})", seq,
                            lengths_.size() - 1, lengths_.size());
  }
  v1::SequenceOpRequest request;
  request.set_op(v1::SequenceOpRequest::CLEAR);
  request.set_seq(seq);
  STRATA_TRY(sequence_op_all(request));
  lengths_[seq] = 0;
  return {};
}

Status RemoteStage::trim(uint32_t seq, uint64_t n) {
  std::lock_guard lock(mutex_);
  if (seq >= lengths_.size()) {
    return invalid_argument("trim: sequence {} does not exist; the cache has sequences 0 to {} (-np {})", seq,
                            lengths_.size() - 1, lengths_.size());
  }
  if (n >= lengths_[seq]) return {};
  v1::SequenceOpRequest request;
  request.set_op(v1::SequenceOpRequest::TRIM);
  request.set_seq(seq);
  request.set_n(n);
  STRATA_TRY(sequence_op_all(request));
  lengths_[seq] = n;
  return {};
}

Status RemoteStage::copy(uint32_t src, uint32_t dst, uint64_t n) {
  std::lock_guard lock(mutex_);
  if (src >= lengths_.size() || dst >= lengths_.size()) {
    return invalid_argument("copy: sequence {} or {} does not exist; the cache has sequences 0 to {} (-np {})", src,
                            dst, lengths_.size() - 1, lengths_.size());
  }
  if (n > lengths_[src]) {
    return invalid_argument("copy: sequence {} holds {} cells, fewer than the {} asked for", src, lengths_[src], n);
  }
  v1::SequenceOpRequest request;
  request.set_op(v1::SequenceOpRequest::COPY);
  request.set_seq(src);
  request.set_dst(dst);
  request.set_n(n);
  STRATA_TRY(sequence_op_all(request));
  lengths_[dst] = n;
  return {};
}

uint64_t RemoteStage::length(uint32_t seq) const {
  std::lock_guard lock(mutex_);
  return seq < lengths_.size() ? lengths_[seq] : 0;
}

// Healthy: probe every worker now and then (a dead one is noticed before the next request).
// Degraded: reconnect and prepare again with backoff; the caches restart empty.
void RemoteStage::monitor() {
  auto backoff = kFirstBackoff;
  uint64_t attempt = 0;
  while (true) {
    {
      std::unique_lock lock(monitor_mutex_);
      monitor_wake_.wait_for(lock, healthy_.load() ? std::chrono::duration_cast<std::chrono::milliseconds>(kProbeInterval)
                                                   : backoff,
                             [this] { return stopping_; });
      if (stopping_) return;
    }
    if (healthy_.load()) {
      backoff = kFirstBackoff;
      attempt = 0;
      for (Hop& hop : hops_) {
        Status status = hop.client->handshake();
        if (!status.ok()) {
          mark_failed(status);
          break;
        }
      }
      continue;
    }
    ++attempt;
    std::vector<Hop> fresh;
    Status status = connect_all(fresh);
    if (status.ok()) {
      std::lock_guard lock(mutex_);
      close_results();
      std::swap(hops_, fresh);
      std::fill(lengths_.begin(), lengths_.end(), 0);
      if (hops_.size() > 1) status = open_results();
      if (status.ok()) {
        ++resets_;
        std::lock_guard hl(health_mutex_);
        spdlog::info("distributed stage recovered after {} attempt(s); sequences restart empty", attempt);
        health_ = Health{};
        healthy_ = true;
        continue;
      }
    }
    {
      std::lock_guard hl(health_mutex_);
      health_.reason = fmt::format("{} (reconnecting, attempt {})", status.message(), attempt);
    }
    backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxBackoff));
  }
}

}  // namespace strata::dist
