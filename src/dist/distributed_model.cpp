// load_distributed / plan_distributed: placement, local and remote stages, the assembled Model.
#include "dist/distributed_model.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <set>
#include <thread>

#include "model/hparams.h"

namespace strata::dist {

Result<std::vector<std::string>> parse_worker_list(std::string_view text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string item(text.substr(pos, end - pos));
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    STRATA_TRY(check_worker_address(item));
    out.push_back(item);
    pos = end + 1;
  }
  return out;
}

Result<WorkerClients> connect_workers(const CoordinatorOptions& options) {
  std::set<std::string> seen;
  for (const std::string& address : options.workers) {
    if (!seen.insert(address).second) {
      return invalid_argument("worker {} is listed twice; give each worker once", address);
    }
  }
  // One thread per worker: a start waits for the slowest handshake, not for their sum.
  std::vector<Result<std::unique_ptr<WorkerClient>>> connected;
  connected.reserve(options.workers.size());
  for (const std::string& address : options.workers) {
    connected.emplace_back(internal_error("{}: not connected", address));
  }
  std::vector<std::thread> threads;
  for (size_t i = 0; i < options.workers.size(); ++i) {
    threads.emplace_back([&, i] { connected[i] = WorkerClient::connect(options.workers[i], options.client); });
  }
  for (std::thread& t : threads) t.join();
  WorkerClients clients;
  for (auto& c : connected) {
    if (!c.ok()) return c.status();
    clients.push_back(std::move(*c));
  }
  return clients;
}

Result<Placement> plan_distributed(const gguf::File& file, const model::ModelConfig& config,
                                   const CoordinatorOptions& options, const WorkerClients& clients) {
  WorkerClients own;
  if (clients.empty()) {
    STRATA_ASSIGN_OR_RETURN(own, connect_workers(options));
  }
  const WorkerClients& use = clients.empty() ? own : clients;
  if (use.size() != options.workers.size()) {
    return internal_error("{} worker connections for {} workers", use.size(), options.workers.size());
  }
  PlacementInput input;
  input.tensor_split = options.tensor_split;
  for (const auto& client : use) {
    input.workers.push_back(client->address());
    input.offered_bytes.push_back(client->info().offered_memory_bytes());
  }
  return place_layers(file, config, input);
}

Health DistributedModel::health() const { return remote_ != nullptr ? remote_->health() : Health{}; }
uint64_t DistributedModel::resets() const { return remote_ != nullptr ? remote_->resets() : 0; }
uint64_t DistributedModel::uploaded_bytes() const { return remote_ != nullptr ? remote_->uploaded_bytes() : 0; }
uint64_t DistributedModel::wire_bytes() const {
  return remote_ != nullptr ? remote_->bytes_sent() + remote_->bytes_received() : 0;
}

uint64_t DistributedModel::micro_batches() const {
  return remote_ != nullptr ? remote_->micro_batches_sent() : 0;
}

Result<std::unique_ptr<DistributedModel>> load_distributed(const gguf::File& file, backend::Backend& backend,
                                                           const model::ModelConfig& config,
                                                           const CoordinatorOptions& options,
                                                           WorkerClients clients) {
  std::unique_ptr<DistributedModel> dm(new DistributedModel());
  dm->file_ = file;
  // The placement's connections are handed to the remote stage: a second connection and
  // handshake per worker would cost a few milliseconds of a warm start that takes tens.
  if (clients.empty()) {
    STRATA_ASSIGN_OR_RETURN(clients, connect_workers(options));
  }
  STRATA_ASSIGN_OR_RETURN(dm->placement_, plan_distributed(dm->file_, config, options, clients));
  STRATA_ASSIGN_OR_RETURN(model::HParams hp, model::read_hparams(dm->file_));
  spdlog::info("placement:\n{}", dm->placement_.to_text());

  std::vector<std::unique_ptr<model::StageRunner>> stages;
  const NodePlacement& local = dm->placement_.nodes.front();
  if (local.layers.size() > 0) {
    model::StageConfig sc;
    sc.layers = local.layers;
    sc.kv = config.kv;
    sc.flash_attn = config.flash_attn;
    sc.n_batch = config.n_batch;
    STRATA_ASSIGN_OR_RETURN(auto stage, model::Stage::create(backend, dm->file_, hp, sc));
    stages.push_back(std::move(stage));
  }
  std::vector<RemoteHopPlan> hops;
  for (size_t i = 1; i < dm->placement_.nodes.size(); ++i) {
    const NodePlacement& node = dm->placement_.nodes[i];
    if (node.layers.size() == 0) {
      spdlog::warn("worker {} gets no layers and is not used", node.node);
      continue;
    }
    hops.push_back({node.node, node.layers});
  }
  if (!hops.empty()) {
    RemoteStageOptions ro;
    ro.client = options.client;
    ro.f16_hidden = options.f16_hidden;
    ro.micro_batches = options.micro_batches;
    ro.upload_progress = options.upload_progress;
    ro.identities = IdentityMemo(options.identity_dir);
    ro.connected = std::move(clients);
    STRATA_ASSIGN_OR_RETURN(auto remote,
                            RemoteStage::create(dm->file_, backend, config, std::move(hops), std::move(ro)));
    dm->remote_ = remote.get();
    stages.push_back(std::move(remote));
  }
  STRATA_ASSIGN_OR_RETURN(dm->model_, model::Model::assemble(dm->file_, backend, config, std::move(stages)));
  return dm;
}

}  // namespace strata::dist
