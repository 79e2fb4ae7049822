// add_worker_flags / coordinator_options: the --worker family of flags.
#include "cli/worker_flags.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

#include "cli/progress_bar.h"

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
