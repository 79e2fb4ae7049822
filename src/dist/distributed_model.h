// The coordinator's entry points: place a model's layers over workers, and load a Model whose
// embeddings and head (and optionally first layers) are local while the rest run on workers.
// What `strata serve/run/bench/check --worker HOST:PORT` call.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "dist/placement.h"
#include "dist/remote_stage.h"
#include "dist/worker_client.h"
#include "gguf/file.h"
#include "model/model.h"

namespace strata::dist {

struct CoordinatorOptions {
  std::vector<std::string> workers;  // HOST:PORT, in chain order (--worker, repeatable; --rpc a,b)
  std::vector<double> tensor_split;  // -ts; empty: by the memory each worker offers
  ClientOptions client;              // token (--worker-token / STRATA_TOKEN), --tls-ca, timeouts
  bool f16_hidden = false;           // send hidden states as f16 (half the bytes, not bit-exact)
  uint32_t micro_batches = 0;        // 0: one per worker, cut between sequences; k: k even slices (remote_stage.h)
  UploadProgress upload_progress;    // while a worker receives its layers
  // Stage hashes remembered across restarts (identity_memo.h); the CLI uses
  // <user cache dir>/stage-identities. Default: hash every start.
  std::filesystem::path identity_dir;
};

// Splits "a,b" (--rpc) into addresses, each checked as HOST:PORT.
Result<std::vector<std::string>> parse_worker_list(std::string_view text);

using WorkerClients = std::vector<std::unique_ptr<WorkerClient>>;

// Connects to every worker of options.workers, all at once, and handshakes (version and
// capabilities); the clients come back in options.workers' order. A worker listed twice is
// refused. `strata serve` calls it first thing, so the connections are made while the model
// file and tokenizer are read.
Result<WorkerClients> connect_workers(const CoordinatorOptions& options);

// Places the layers over the connected workers (connect_workers; connects when `clients` is
// empty); loads nothing. For `strata check --worker`.
Result<Placement> plan_distributed(const gguf::File& file, const model::ModelConfig& config,
                                   const CoordinatorOptions& options, const WorkerClients& clients = {});

class DistributedModel {
 public:
  model::Model& model() { return *model_; }
  const Placement& placement() const { return placement_; }
  // ok, or degraded with the reason naming the worker (for /health).
  Health health() const;
  // Bumped whenever a reconnection emptied the workers' caches: the scheduler should forget
  // every sequence (prompt cache) it thinks the model holds.
  uint64_t resets() const;
  uint64_t uploaded_bytes() const;  // tensor bytes sent to workers so far
  uint64_t wire_bytes() const;      // hidden-state bytes sent and received so far
  uint64_t micro_batches() const;   // Forward calls into the chain so far (a batch may be several)

 private:
  friend Result<std::unique_ptr<DistributedModel>> load_distributed(const gguf::File&, backend::Backend&,
                                                                    const model::ModelConfig&,
                                                                    const CoordinatorOptions&, WorkerClients);
  gguf::File file_;
  Placement placement_;
  std::unique_ptr<model::Model> model_;
  RemoteStage* remote_ = nullptr;  // owned by model_
};

// Handshakes, places, prepares every worker's stage (uploading tensors a worker lacks, once)
// and assembles the Model. The backend runs the coordinator's part and must outlive the result.
// `clients`: from connect_workers (the stages use those connections); empty: connects here.
Result<std::unique_ptr<DistributedModel>> load_distributed(const gguf::File& file, backend::Backend& backend,
                                                           const model::ModelConfig& config,
                                                           const CoordinatorOptions& options,
                                                           WorkerClients clients = {});

}  // namespace strata::dist
