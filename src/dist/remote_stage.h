// RemoteStage: consecutive layer ranges on workers, run as one model::StageRunner. The
// coordinator sends a batch's hidden states to the first worker; each worker hands its output
// straight to the next, and the last one returns it (one hop per stage). A worker that fails
// makes forward() return `unavailable` naming it; a monitor thread then reconnects with backoff
// and prepares the stages again (from the workers' caches: no upload).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "dist/stage_identity.h"
#include "dist/identity_memo.h"
#include "dist/worker_client.h"
#include "gguf/file.h"
#include "model/hparams.h"
#include "model/model.h"
#include "model/stage.h"

namespace strata::dist {

// One worker's part of the chain.
struct RemoteHopPlan {
  std::string address;
  model::LayerRange layers;
};

struct RemoteStageOptions {
  ClientOptions client;
  bool f16_hidden = false;  // halves the bytes per hop; outputs are then no longer bit-identical
  // Micro-batches along a chain of 2+ workers, so the stages work on different micro-batches
  // at once (micro_batches.h). 0: one per worker, cut between sequences only (several requests
  // in flight pipeline; outputs identical to the whole batch). k > 0: k even slices, which also
  // pipelines one long prompt but may change the last bits. 1: off.
  uint32_t micro_batches = 0;
  UploadProgress upload_progress;
  // Where the stage hashes of the model file are remembered across restarts (default: none).
  IdentityMemo identities;
  // Clients already connected and handshaken (by the placement): the first connection to a
  // hop's address takes the one with that address instead of connecting again; reconnections
  // always connect anew.
  std::vector<std::unique_ptr<WorkerClient>> connected;
};

struct Health {
  bool ok = true;
  std::string reason;  // why not, naming the worker
};

class RemoteStage final : public model::StageRunner {
 public:
  // Connects to each worker, checks what it supports against what its layers need, and
  // prepares its stage (uploading the tensors when it has no copy). `file` and `backend` must
  // outlive the stage; config gives the cache (n_ctx, n_seq, types), batch size and -fa.
  static Result<std::unique_ptr<RemoteStage>> create(const gguf::File& file, backend::Backend& backend,
                                                     const model::ModelConfig& config,
                                                     std::vector<RemoteHopPlan> hops, RemoteStageOptions options);
  ~RemoteStage() override;

  Status forward(const model::BatchMeta& batch, float* hidden) override;
  Status clear(uint32_t seq) override;
  Status trim(uint32_t seq, uint64_t n) override;
  Status copy(uint32_t src, uint32_t dst, uint64_t n) override;
  uint64_t length(uint32_t seq) const override;
  uint64_t n_ctx_per_seq() const override { return n_ctx_per_seq_; }
  model::LayerRange layers() const override;
  uint64_t weight_bytes() const override { return weight_bytes_; }
  uint64_t kv_bytes() const override { return kv_bytes_; }

  Health health() const;
  // Times the workers' caches were reset by a reconnection (sequences must be recomputed).
  uint64_t resets() const { return resets_.load(); }
  uint64_t uploaded_bytes() const { return uploaded_bytes_.load(); }
  uint64_t bytes_sent() const { return bytes_sent_.load(); }
  uint64_t bytes_received() const { return bytes_received_.load(); }
  uint64_t micro_batches_sent() const { return micro_batches_sent_.load(); }  // Forward calls to the first worker
  const std::vector<RemoteHopPlan>& hops() const { return plans_; }

 private:
  struct Hop {
    RemoteHopPlan plan;
    std::unique_ptr<WorkerClient> client;
    uint64_t stage_id = 0;
  };
  // The Results stream of the chain's last worker and what it delivered.
  struct Results;

  RemoteStage() = default;
  // Connects and prepares every hop into `out`; the first error names the worker.
  Status connect_all(std::vector<Hop>& out);
  Status prepare_hop(Hop& hop);
  Status open_results();
  void close_results();
  Status sequence_op_all(const v1::SequenceOpRequest& request);
  Status check_batch(const model::BatchMeta& batch) const;
  void mark_failed(const Status& status);
  void monitor();

  const gguf::File* file_ = nullptr;
  backend::Backend* backend_ = nullptr;
  model::HParams hp_;
  model::ModelConfig config_;
  RemoteStageOptions options_;
  std::vector<RemoteHopPlan> plans_;
  std::vector<StageIdentity> identities_;  // per hop
  uint64_t n_ctx_per_seq_ = 0;
  uint64_t weight_bytes_ = 0;
  uint64_t kv_bytes_ = 0;
  uint64_t session_ = 0;

  mutable std::mutex mutex_;  // hops_, lengths_, results_, calls
  std::vector<Hop> hops_;
  std::vector<uint64_t> lengths_;  // mirror of the workers' sequence lengths
  mutable std::vector<uint64_t> next_;  // check_batch scratch
  std::vector<float> host_;
  uint64_t next_request_ = 1;
  std::shared_ptr<Results> results_;  // shared with in-flight calls' callbacks

  mutable std::mutex health_mutex_;
  Health health_;
  std::atomic<bool> healthy_{true};
  std::atomic<uint64_t> resets_{0};
  std::atomic<uint64_t> uploaded_bytes_{0};
  std::atomic<uint64_t> bytes_sent_{0};
  std::atomic<uint64_t> bytes_received_{0};
  std::atomic<uint64_t> micro_batches_sent_{0};

  std::mutex monitor_mutex_;
  std::condition_variable monitor_wake_;
  bool stopping_ = false;
  std::thread monitor_;
};

}  // namespace strata::dist
