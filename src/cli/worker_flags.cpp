// add_worker_flags / coordinator_options: the --worker family of flags.
#include "cli/worker_flags.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

#include "cli/progress_bar.h"
#include "core/cache_dir.h"

namespace strata::cli {

void add_worker_flags(CLI::App& app, WorkerFlags& flags) {
  app.add_option("--worker", flags.workers, "a `strata worker` HOST:PORT running the next layers (repeatable, in "
                                            "chain order)");
  app.add_option("--rpc", flags.rpc, "workers as HOST:PORT,HOST:PORT (llama.cpp's spelling of --worker)");
  app.add_option("--worker-token", flags.token, "the workers' token (default: $STRATA_TOKEN)");
  app.add_option("--tls-ca", flags.tls_ca, "PEM file of the CA that signed the workers' certificates (TLS)");
  app.add_option("--tensor-split", flags.tensor_split,
                 "(-ts) layer ratios. With --worker: one per worker, or one more first for this process (default: "
                 "by the memory each worker offers). Without: one per GPU of --device for -ngl's layers (default: "
                 "equal)");
  app.add_option("--micro-batches", flags.micro_batches,
                 "pipelining over 2+ workers: 0 = one micro-batch per worker, cut between requests (outputs as "
                 "unsplit); k = k even slices, which also pipelines one long prompt")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
}

Result<dist::CoordinatorOptions> coordinator_options(const WorkerFlags& flags) {
  dist::CoordinatorOptions options;
  for (const std::string& w : flags.workers) {
    STRATA_ASSIGN_OR_RETURN(std::vector<std::string> one, dist::parse_worker_list(w));
    options.workers.insert(options.workers.end(), one.begin(), one.end());
  }
  if (!flags.rpc.empty()) {
    STRATA_ASSIGN_OR_RETURN(std::vector<std::string> more, dist::parse_worker_list(flags.rpc));
    options.workers.insert(options.workers.end(), more.begin(), more.end());
  }
  // Without workers, -ts splits this process's GPU layers instead (ComputeOptions::tensor_split).
  if (!flags.tensor_split.empty() && !options.workers.empty()) {
    STRATA_ASSIGN_OR_RETURN(options.tensor_split, dist::parse_tensor_split(flags.tensor_split));
  }
  options.client.token = flags.token;
  if (options.client.token.empty()) {
    if (const char* env = std::getenv("STRATA_TOKEN"); env != nullptr) options.client.token = env;
  }
  options.client.tls_ca_file = flags.tls_ca;
  options.micro_batches = flags.micro_batches;
  // A restart reads the stage hashes back instead of reading every weight byte again.
  options.identity_dir = user_cache_dir() / "stage-identities";
  // A bar per worker on a terminal while it receives its layers (first start only).
  struct Bars {
    std::mutex mutex;
    std::map<std::string, std::unique_ptr<ProgressBar>> by_worker;
  };
  auto bars = std::make_shared<Bars>();
  options.upload_progress = [bars](const std::string& worker, uint64_t done, uint64_t total) {
    std::lock_guard lock(bars->mutex);
    std::unique_ptr<ProgressBar>& bar = bars->by_worker[worker];
    if (!bar) bar = std::make_unique<ProgressBar>("sending layers to " + worker);
    bar->update(done, total);
    if (done >= total) bar->finish();
  };
  return options;
}

}  // namespace strata::cli
