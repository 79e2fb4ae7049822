// What a worker does with each message, apart from the transport: handshake, preparing stages
// (local copy, cache or upload), forward passes with the hand-off to the next hop, sequence
// operations. gRPC handlers (worker_server) and the fuzzer call it with decoded messages.
// Anything a peer sends ends in an error Status, never an abort; files are only read from the
// configured model paths and read/written under the cache folder.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "dist/proto/worker.pb.h"
#include "dist/result_queue.h"
#include "dist/stage_cache.h"
#include "gguf/file.h"
#include "model/stage.h"

namespace strata::dist {

struct WorkerConfig {
  std::vector<std::filesystem::path> model_files;  // local GGUF copies it may load stages from
  std::filesystem::path cache_dir;                 // empty: uploads are refused
  uint64_t memory_limit = 0;                       // 0: what the device reports free
  uint32_t protocol_version = 0;                   // 0: kProtocolVersion (tests set others)
  std::string device_name = "cpu";
  // How long a micro-batch waits for the one before it (bounds what a stuck chain holds).
  std::chrono::milliseconds micro_batch_wait{300000};
};

// Sends a Forward to the next hop of a route (the worker's gRPC client in production; a stub in
// tests and the fuzzer). The error names that worker.
using NextHopSender =
    std::function<Status(const std::string& address, const v1::ForwardRequest& request, v1::ForwardReply* reply)>;

class WorkerCore {
 public:
  static Result<std::unique_ptr<WorkerCore>> create(backend::Backend& backend, WorkerConfig config,
                                                    NextHopSender next_hop);

  Status handshake(const v1::HandshakeRequest& request, v1::HandshakeReply* reply) const;
  Status prepare(const v1::PrepareRequest& request, v1::PrepareReply* reply);
  Status upload(const v1::UploadHeader& header, const ChunkSource& data, v1::UploadReply* reply);
  Status forward(const v1::ForwardRequest& request, v1::ForwardReply* reply);
  Status sequence_op(const v1::SequenceOpRequest& request);

  // The queue a Results stream drains; a newer stream of the same session replaces it.
  std::shared_ptr<ResultQueue> open_session(uint64_t session);
  void close_session(uint64_t session, const std::shared_ptr<ResultQueue>& queue);

  uint32_t protocol_version() const { return config_.protocol_version; }
  uint64_t offered_memory() const;
  size_t stage_count() const;

 private:
  struct Prepared {
    uint64_t id = 0;
    std::string key;  // identity + cache settings: a second prepare of the same key reuses it
    gguf::File file;
    std::unique_ptr<model::Stage> stage;
    std::unique_ptr<backend::DeviceBuffer> hidden;  // [n_batch][n_embd] f32
    uint32_t n_embd = 0;
    uint64_t bytes = 0;  // weights + KV + scratch
    // Requests this stage has run (true) or refused (false), most recent last: micro-batches
    // wait here for the one before them.
    std::mutex order_mutex;
    std::condition_variable order_changed;
    std::deque<std::pair<uint64_t, bool>> finished;
  };

  WorkerCore(backend::Backend& backend, WorkerConfig config, NextHopSender next_hop)
      : backend_(&backend), config_(std::move(config)), next_hop_(std::move(next_hop)) {}

  // The local copy or cache entry holding this identity, if any.
  Result<std::optional<std::pair<gguf::File, std::string>>> find_weights(const v1::PrepareRequest& request);
  std::shared_ptr<Prepared> find_stage(uint64_t id) const;
  void roll_back(Prepared& stage, const v1::ForwardRequest& request);
  Status wait_for_turn(Prepared& stage, uint64_t after_request);
  void finish(Prepared& stage, uint64_t request_id, bool ok);

  backend::Backend* backend_;
  WorkerConfig config_;
  NextHopSender next_hop_;
  std::optional<StageCache> cache_;

  mutable std::mutex registry_mutex_;  // stages_, sessions_, uploading_, local file memo
  std::map<uint64_t, std::shared_ptr<Prepared>> stages_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::shared_ptr<ResultQueue>> sessions_;
  std::vector<std::string> uploading_;
  std::map<std::string, std::string> local_hashes_;  // "path|begin|end" -> content hash hex
  std::map<std::string, gguf::File> local_files_;

  std::mutex compute_mutex_;  // one forward pass or cache operation at a time on the backend
};

}  // namespace strata::dist
