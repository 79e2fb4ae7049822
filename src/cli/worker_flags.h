// The coordinator's flags for running a model's layers on `strata worker` processes:
// --worker HOST:PORT (repeatable), --rpc a,b (llama.cpp's spelling), --worker-token (or env
// STRATA_TOKEN), --tls-ca, --micro-batches, -ts/--tensor-split (over the workers; without --worker, over this process's
// GPUs). Shared by serve, bench and check.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "dist/distributed_model.h"

namespace strata::cli {

struct WorkerFlags {
  std::vector<std::string> workers;
  std::string rpc;
  std::string token;
  std::string tls_ca;
  std::string tensor_split;
  uint32_t micro_batches = 0;  // --micro-batches (dist::CoordinatorOptions::micro_batches)
};

void add_worker_flags(CLI::App& app, WorkerFlags& flags);

// The coordinator options the flags ask for; no workers named: an empty worker list.
// Errors: a malformed address or split. Without workers -ts is left to the local placement
// (ComputeOptions::tensor_split).
Result<dist::CoordinatorOptions> coordinator_options(const WorkerFlags& flags);

}  // namespace strata::cli
