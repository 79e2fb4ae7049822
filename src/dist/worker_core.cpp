// WorkerCore: the worker's message handling, independent of gRPC.
#include "dist/worker_core.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "dist/hidden_codec.h"
#include "dist/protocol.h"
#include "dist/identity_memo.h"
#include "dist/stage_identity.h"
#include "kv/cache_type.h"
#include "model/hparams.h"
#include "quant/type.h"

namespace strata::dist {
namespace {

constexpr uint32_t kMaxBatch = 8192;
constexpr uint64_t kMaxCtx = uint64_t{1} << 24;
constexpr uint32_t kMaxSeq = 4096;
constexpr int kMaxHops = 64;


Result<quant::Type> kv_type(uint32_t id, const char* which) {
  const quant::TypeInfo* info = quant::find_type(id);
  if (info == nullptr) return invalid_argument("{} cache type id {} is not a ggml type", which, id);
  return info->type;
}

}  // namespace

Result<std::unique_ptr<WorkerCore>> WorkerCore::create(backend::Backend& backend, WorkerConfig config,
                                                       NextHopSender next_hop) {
  if (config.protocol_version == 0) config.protocol_version = kProtocolVersion;
  std::unique_ptr<WorkerCore> core(new WorkerCore(backend, std::move(config), std::move(next_hop)));
  if (!core->config_.cache_dir.empty()) {
    STRATA_ASSIGN_OR_RETURN(StageCache cache, StageCache::open(core->config_.cache_dir));
    core->cache_ = std::move(cache);
  }
  return core;
}

uint64_t WorkerCore::offered_memory() const {
  if (config_.memory_limit != 0) return config_.memory_limit;
  return backend_->capabilities().free_memory_bytes;
}

size_t WorkerCore::stage_count() const {
  std::lock_guard lock(registry_mutex_);
  return stages_.size();
}

Status WorkerCore::handshake(const v1::HandshakeRequest& request, v1::HandshakeReply* reply) const {
  if (request.protocol_version() != config_.protocol_version) {
    return unsupported("protocol version mismatch: the coordinator (strata {}) speaks strata protocol {}, this worker "
                       "(strata {}) speaks {}; run the same strata version everywhere",
                       request.build().substr(0, 64), request.protocol_version(), build_version(),
                       config_.protocol_version);
  }
  const backend::Capabilities& caps = backend_->capabilities();
  reply->set_protocol_version(config_.protocol_version);
  reply->set_build(std::string(build_version()));
  v1::DeviceInfo* device = reply->add_devices();
  device->set_name(config_.device_name);
  device->set_description(caps.device);
  device->set_memory_bytes(caps.memory_bytes);
  device->set_free_memory_bytes(caps.free_memory_bytes);
  reply->set_offered_memory_bytes(offered_memory());
  for (quant::Type t : caps.weight_types) reply->add_weight_types(static_cast<uint32_t>(t));
  for (quant::Type t : caps.kv_types) reply->add_kv_types(static_cast<uint32_t>(t));
  for (int d : caps.head_dims) reply->add_head_dims(static_cast<uint32_t>(d));
  reply->set_max_message_bytes(kMaxMessageBytes);
  return {};
}

Result<std::optional<std::pair<gguf::File, std::string>>> WorkerCore::find_weights(const v1::PrepareRequest& request) {
  using Found = std::optional<std::pair<gguf::File, std::string>>;
  STRATA_ASSIGN_OR_RETURN(const Hash128 content, parse_hash(request.content_hash()));
  STRATA_ASSIGN_OR_RETURN(const Hash128 shape, parse_hash(request.shape_hash()));
  const model::LayerRange range{request.layer_begin(), request.layer_end()};
  for (const auto& path : config_.model_files) {
    const std::string memo_key = fmt::format("{}|{}|{}", path.string(), range.begin, range.end);
    gguf::File file;
    std::optional<std::string> known;
    {
      std::lock_guard lock(registry_mutex_);
      auto it = local_files_.find(path.string());
      if (it != local_files_.end()) file = it->second;
      auto h = local_hashes_.find(memo_key);
      if (h != local_hashes_.end()) known = h->second;
    }
    if (file.bytes().empty()) {
      auto opened = gguf::File::open(path);
      if (!opened.ok()) {
        spdlog::warn("local model {} cannot be used: {}", path.string(), opened.status().message());
        continue;
      }
      file = *opened;
      std::lock_guard lock(registry_mutex_);
      local_files_[path.string()] = file;
    }
    if (!known.has_value()) {
      auto local_shape = stage_shape_hash(file, range);
      if (!local_shape.ok() || !(*local_shape == shape)) continue;  // another model: not worth reading
      // Remembered in the cache directory across restarts when there is one (identity_memo.h).
      const IdentityMemo memo = cache_.has_value() ? IdentityMemo(cache_->dir() / "identities") : IdentityMemo();
      auto id = memo.identity(file, range);
      if (!id.ok()) continue;
      known = id->content.hex();
      std::lock_guard lock(registry_mutex_);
      local_hashes_[memo_key] = *known;
    }
    if (*known == content.hex()) return Found(std::make_pair(file, fmt::format("local file {}", path.string())));
  }
  if (cache_.has_value()) {
    STRATA_ASSIGN_OR_RETURN(std::optional<gguf::File> cached, cache_->find(content, range));
    if (cached.has_value()) return Found(std::make_pair(*cached, std::string("cache")));
  }
  return Found{};
}

Status WorkerCore::prepare(const v1::PrepareRequest& request, v1::PrepareReply* reply) {
  if (request.layer_begin() >= request.layer_end()) {
    return invalid_argument("prepare: layer range [{}, {}) is empty", request.layer_begin(), request.layer_end());
  }
  if (request.n_batch() == 0 || request.n_batch() > kMaxBatch || request.n_seq() == 0 ||
      request.n_seq() > kMaxSeq || request.n_ctx() == 0 || request.n_ctx() > kMaxCtx) {
    return invalid_argument("prepare: batch {} (1 to {}), sequences {} (1 to {}) or context {} (1 to {}) out of range",
                            request.n_batch(), kMaxBatch, request.n_seq(), kMaxSeq, request.n_ctx(), kMaxCtx);
  }
  STRATA_ASSIGN_OR_RETURN(const quant::Type type_k, kv_type(request.type_k(), "K"));
  STRATA_ASSIGN_OR_RETURN(const quant::Type type_v, kv_type(request.type_v(), "V"));
  const std::string stage_key = fmt::format("{}|{}|{}|", request.content_hash(), request.layer_begin(),
                                            request.layer_end());
  const std::string key = stage_key + fmt::format("{}|{}|{}|{}|{}|{}", request.type_k(), request.type_v(),
                                                  request.n_ctx(), request.n_seq(), request.n_batch(),
                                                  request.flash_attn());
  {
    std::shared_ptr<Prepared> existing;
    {
      std::lock_guard lock(registry_mutex_);
      for (const auto& [id, p] : stages_) {
        if (p->key == key) existing = p;
      }
    }
    if (existing) {
      // A coordinator that restarted: its sequences start empty.
      std::lock_guard compute(compute_mutex_);
      existing->stage->kv_cache().clear_all();
      std::lock_guard order(existing->order_mutex);
      existing->finished.clear();
      reply->set_stage_id(existing->id);
      reply->set_source("already prepared");
      reply->set_weight_bytes(existing->stage->weight_bytes());
      reply->set_kv_bytes(existing->stage->kv_bytes());
      reply->set_n_embd(existing->n_embd);
      return {};
    }
  }
  {
    // The same layers with other settings: a coordinator restarted with another -c or -ctk.
    // Its old stage would only hold memory (a forward still running keeps it alive until done).
    std::lock_guard lock(registry_mutex_);
    for (auto it = stages_.begin(); it != stages_.end();) {
      if (it->second->key.compare(0, stage_key.size(), stage_key) == 0) {
        spdlog::info("releasing stage {} (layers {}-{} with other settings)", it->first, request.layer_begin(),
                     request.layer_end() - 1);
        it = stages_.erase(it);
      } else {
        ++it;
      }
    }
  }
  STRATA_ASSIGN_OR_RETURN(auto found, find_weights(request));
  if (!found.has_value()) {
    if (!cache_.has_value()) {
      return not_found("this worker has no copy of layers {} to {} (hash {}) and no --cache-dir to receive one; give "
                       "it --model with the same GGUF or a --cache-dir",
                       request.layer_begin(), request.layer_end() - 1, request.content_hash());
    }
    reply->set_needs_upload(true);
    return {};
  }
  auto& [file, source] = *found;
  STRATA_ASSIGN_OR_RETURN(model::HParams hp, model::read_hparams(file));
  model::StageConfig sc;
  sc.layers = {request.layer_begin(), request.layer_end()};
  sc.kv.n_ctx = request.n_ctx();
  sc.kv.n_seq = request.n_seq();
  sc.kv.type_k = type_k;
  sc.kv.type_v = type_v;
  sc.flash_attn = request.flash_attn();
  sc.n_batch = request.n_batch();
  if (sc.layers.end > hp.n_layer) {
    return invalid_argument("prepare: layers up to {} asked of a model with {}", sc.layers.end, hp.n_layer);
  }
  const kv::KvShape shape{sc.layers.size(), hp.n_head_kv, hp.head_dim_k, hp.head_dim_v};
  STRATA_ASSIGN_OR_RETURN(kv::KvMemory kv_memory, kv::estimate_kv_memory(shape, sc.kv));
  auto prepared = std::make_shared<Prepared>();
  {
    std::lock_guard compute(compute_mutex_);
    uint64_t in_use = 0;
    {
      std::lock_guard lock(registry_mutex_);
      for (const auto& [id, p] : stages_) in_use += p->bytes;
    }
    STRATA_ASSIGN_OR_RETURN(auto tensors, stage_tensors(file, sc.layers));
    uint64_t weights = 0;
    for (const auto* t : tensors) weights += t->n_bytes;
    const uint64_t need = weights + kv_memory.total_bytes();
    if (in_use + need > offered_memory()) {
      return resource_exhausted("layers {} to {} need {:.1f} MiB (weights and KV cache) but this worker offers {:.1f} "
                                "MiB with {:.1f} MiB in use; give it more --mem or fewer layers",
                                sc.layers.begin, sc.layers.end - 1, need / 1048576.0, offered_memory() / 1048576.0,
                                in_use / 1048576.0);
    }
    STRATA_ASSIGN_OR_RETURN(prepared->stage, model::Stage::create(*backend_, file, hp, sc));
    STRATA_ASSIGN_OR_RETURN(prepared->hidden,
                            backend_->allocate(uint64_t{sc.n_batch} * hp.n_embd * sizeof(float), "the stage's input"));
    prepared->bytes = need + prepared->stage->scratch_bytes();
  }
  prepared->file = file;
  prepared->key = key;
  prepared->n_embd = hp.n_embd;
  {
    std::lock_guard lock(registry_mutex_);
    prepared->id = next_id_++;
    stages_[prepared->id] = prepared;
  }
  spdlog::info("prepared stage {}: layers {}-{} of {} from {} (K {}, V {}, ctx {}, {} sequences)", prepared->id,
               sc.layers.begin, sc.layers.end - 1, request.model_name().substr(0, 128), source,
               quant::type_name(type_k), quant::type_name(type_v), sc.kv.n_ctx, sc.kv.n_seq);
  reply->set_stage_id(prepared->id);
  reply->set_source(source);
  reply->set_weight_bytes(prepared->stage->weight_bytes());
  reply->set_kv_bytes(prepared->stage->kv_bytes());
  reply->set_n_embd(hp.n_embd);
  return {};
}

Status WorkerCore::upload(const v1::UploadHeader& header, const ChunkSource& data, v1::UploadReply* reply) {
  if (!cache_.has_value()) return unsupported("this worker has no --cache-dir, so it cannot keep uploaded weights");
  STRATA_TRY(check_upload_header(header));
  {
    std::lock_guard lock(registry_mutex_);
    if (std::find(uploading_.begin(), uploading_.end(), header.content_hash()) != uploading_.end()) {
      return resource_exhausted("stage {} is already being uploaded by another call; wait for it",
                                header.content_hash());
    }
    uploading_.push_back(header.content_hash());
  }
  spdlog::info("receiving layers {}-{} ({:.1f} MiB, hash {})", header.layer_begin(), header.layer_end() - 1,
               header.data_bytes() / 1048576.0, header.content_hash());
  Status status = cache_->receive(header, data, offered_memory());
  {
    std::lock_guard lock(registry_mutex_);
    uploading_.erase(std::find(uploading_.begin(), uploading_.end(), header.content_hash()));
  }
  if (!status.ok()) return status;
  spdlog::info("stored stage {} in the cache", header.content_hash());
  reply->set_bytes_received(header.data_bytes());
  return {};
}

std::shared_ptr<WorkerCore::Prepared> WorkerCore::find_stage(uint64_t id) const {
  std::lock_guard lock(registry_mutex_);
  auto it = stages_.find(id);
  return it == stages_.end() ? nullptr : it->second;
}

// A batch the next stage refused must not stay in this stage's cache either.
void WorkerCore::roll_back(Prepared& p, const v1::ForwardRequest& request) {
  std::lock_guard compute(compute_mutex_);
  for (int t = 0; t < request.positions_size(); ++t) {
    if (request.seq_ids(t) >= 0 && request.positions(t) >= 0) {
      (void)p.stage->trim(static_cast<uint32_t>(request.seq_ids(t)), static_cast<uint64_t>(request.positions(t)));
    }
  }
}

Status WorkerCore::wait_for_turn(Prepared& p, uint64_t after) {
  if (after == 0) return {};
  std::unique_lock lock(p.order_mutex);
  const auto seen = [&]() -> const std::pair<uint64_t, bool>* {
    for (auto it = p.finished.rbegin(); it != p.finished.rend(); ++it) {
      if (it->first == after) return &*it;
    }
    return nullptr;
  };
  if (!p.order_changed.wait_for(lock, config_.micro_batch_wait, [&] { return seen() != nullptr; })) {
    return Status(ErrorCode::kDeadlineExceeded,
                  fmt::format("micro-batch {} never reached this stage (waited {} ms)", after,
                              config_.micro_batch_wait.count()));
  }
  if (!seen()->second) return unavailable("the micro-batch before this one (request {}) failed on this stage", after);
  return {};
}

void WorkerCore::finish(Prepared& p, uint64_t request_id, bool ok) {
  if (request_id == 0) return;
  std::lock_guard lock(p.order_mutex);
  p.finished.emplace_back(request_id, ok);
  if (p.finished.size() > 1024) p.finished.pop_front();
  p.order_changed.notify_all();
}

Status WorkerCore::forward(const v1::ForwardRequest& request, v1::ForwardReply* reply) {
  std::shared_ptr<Prepared> p = find_stage(request.stage_id());
  if (!p) {
    return not_found("stage {} is not prepared on this worker (it may have restarted); prepare it again",
                     request.stage_id());
  }
  const int n = request.positions_size();
  if (n < 1 || static_cast<uint32_t>(n) > p->stage->n_batch() || request.seq_ids_size() != n) {
    return invalid_argument("forward: {} positions and {} sequence ids; give 1 to {} tokens with one of each",
                            request.positions_size(), request.seq_ids_size(), p->stage->n_batch());
  }
  if (request.next_size() > kMaxHops) return invalid_argument("forward: a route of {} hops", request.next_size());
  const v1::HiddenType type = request.hidden_type();
  std::vector<float> host(static_cast<size_t>(n) * p->n_embd);
  STRATA_TRY(decode_hidden(request.hidden(), type, host));
  const model::BatchMeta meta{std::span<const int32_t>(request.positions().data(), static_cast<size_t>(n)),
                              std::span<const int32_t>(request.seq_ids().data(), static_cast<size_t>(n))};
  // A micro-batch runs after the one before it; this stage is then free for the next one while
  // the output travels on.
  Status computed = wait_for_turn(*p, request.after_request());
  if (computed.ok()) {
    std::lock_guard compute(compute_mutex_);
    float* dev = p->hidden->floats();
    computed = backend_->write(dev, host.data(), host.size() * sizeof(float));
    if (computed.ok()) computed = p->stage->forward(meta, dev);
    if (computed.ok()) computed = backend_->read(host.data(), dev, host.size() * sizeof(float));
    // The next stage or the coordinator computes now, quite possibly on the same cores.
    backend_->release_idle_threads();
  }
  finish(*p, request.request_id(), computed.ok());
  STRATA_TRY(computed);

  std::string out;
  encode_hidden(host, type, out);
  reply->set_request_id(request.request_id());
  reply->set_hidden_type(type);

  if (request.next_size() > 0) {
    v1::ForwardRequest next;
    next.set_stage_id(request.next(0).stage_id());
    next.set_request_id(request.request_id());
    *next.mutable_positions() = request.positions();
    *next.mutable_seq_ids() = request.seq_ids();
    next.set_hidden_type(type);
    next.set_hidden(std::move(out));
    for (int h = 1; h < request.next_size(); ++h) *next.add_next() = request.next(h);
    next.set_result_session(request.result_session());
    next.set_after_request(request.after_request());
    v1::ForwardReply next_reply;
    Status status = next_hop_ ? next_hop_(request.next(0).address(), next, &next_reply)
                              : unavailable("this worker cannot reach other workers");
    if (!status.ok()) {
      roll_back(*p, request);
      return status;
    }
    reply->set_hidden(std::move(*next_reply.mutable_hidden()));
    return {};
  }
  if (request.result_session() != 0) {
    std::shared_ptr<ResultQueue> queue;
    {
      std::lock_guard lock(registry_mutex_);
      auto it = sessions_.find(request.result_session());
      if (it != sessions_.end()) queue = it->second;
    }
    Status status = queue ? Status() : unavailable("no Results stream is open for session {} on this worker",
                                                   request.result_session());
    if (status.ok()) {
      v1::ForwardReply result;
      result.set_request_id(request.request_id());
      result.set_hidden_type(type);
      result.set_hidden(std::move(out));
      status = queue->push(std::move(result));
    }
    if (!status.ok()) {
      roll_back(*p, request);
      return status;
    }
    return {};
  }
  reply->set_hidden(std::move(out));
  return {};
}

Status WorkerCore::sequence_op(const v1::SequenceOpRequest& request) {
  std::shared_ptr<Prepared> p = find_stage(request.stage_id());
  if (!p) {
    return not_found("stage {} is not prepared on this worker (it may have restarted); prepare it again",
                     request.stage_id());
  }
  std::lock_guard compute(compute_mutex_);
  switch (request.op()) {
    case v1::SequenceOpRequest::CLEAR: return p->stage->clear(request.seq());
    case v1::SequenceOpRequest::TRIM: return p->stage->trim(request.seq(), request.n());
    case v1::SequenceOpRequest::COPY: return p->stage->copy(request.seq(), request.dst(), request.n());
    case v1::SequenceOpRequest::CLEAR_ALL: p->stage->kv_cache().clear_all(); return {};
    default: break;
  }
  return invalid_argument("sequence operation {} is unknown; use clear, trim, copy or clear_all",
                          static_cast<int>(request.op()));
}

std::shared_ptr<ResultQueue> WorkerCore::open_session(uint64_t session) {
  auto queue = std::make_shared<ResultQueue>();
  std::lock_guard lock(registry_mutex_);
  auto& slot = sessions_[session];
  if (slot) slot->close();
  slot = queue;
  return queue;
}

void WorkerCore::close_session(uint64_t session, const std::shared_ptr<ResultQueue>& queue) {
  queue->close();
  std::lock_guard lock(registry_mutex_);
  auto it = sessions_.find(session);
  if (it != sessions_.end() && it->second == queue) sessions_.erase(it);
}

}  // namespace strata::dist
