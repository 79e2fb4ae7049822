// `strata worker`: serves layer stages to a coordinator over gRPC (see docs/distributed.md).
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "cli/command.h"
#include "cli/compute_backend.h"
#include "dist/protocol.h"
#include "dist/worker_server.h"
#include "model/device_placement.h"

namespace strata::cli {
namespace {

struct WorkerArgs {
  std::string host = "127.0.0.1";
  int port = 50052;
  std::string token;
  std::string tls_cert, tls_key, tls_ca;
  std::string cache_dir;
  std::vector<std::string> models;
  std::string models_dir;
  std::string device = "cpu";
  std::string mem;
  int64_t threads = std::max(1u, std::thread::hardware_concurrency());
  bool insecure = false;
  uint32_t test_protocol_version = 0;
};

std::filesystem::path default_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::filesystem::path(xdg) / "strata" / "stages";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::filesystem::path(home) / ".cache" / "strata" / "stages";
  }
  return std::filesystem::temp_directory_path() / "strata-stages";
}

// "8G", "512M", "1.5GiB", "1000000": bytes.
Result<uint64_t> parse_memory(const std::string& text) {
  std::string s = text;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* suffix : {"ib", "b"}) {
    const std::string_view sv(suffix);
    if (s.size() > sv.size() && s.compare(s.size() - sv.size(), sv.size(), sv) == 0) s.resize(s.size() - sv.size());
  }
  double scale = 1;
  if (!s.empty() && std::string_view("kmgt").find(s.back()) != std::string_view::npos) {
    const size_t power = std::string_view("kmgt").find(s.back()) + 1;
    for (size_t i = 0; i < power; ++i) scale *= 1024;
    s.pop_back();
  }
  char* end = nullptr;
  const double value = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !(value > 0) || value * scale > 1e18) {
    return invalid_argument("--mem '{}' is not a size; give e.g. 24G, 512M or a number of bytes", text);
  }
  return static_cast<uint64_t>(value * scale);
}

Status run_worker(const WorkerArgs& args) {
  // Signals go to the thread that waits for them, not to gRPC's or the pool's threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (args.threads < 1 || args.threads > backend::cpu::kMaxThreads) {
    return invalid_argument("-t {} is out of range; use 1 to {} threads", args.threads, backend::cpu::kMaxThreads);
  }
  dist::WorkerServerOptions options;
  options.host = args.host;
  options.port = args.port;
  options.token = args.token;
  if (options.token.empty()) {
    if (const char* env = std::getenv("STRATA_TOKEN"); env != nullptr) options.token = env;
  }
  options.insecure = args.insecure;
  options.tls_cert_file = args.tls_cert;
  options.tls_key_file = args.tls_key;
  options.tls_ca_file = args.tls_ca;
  options.core.cache_dir = args.cache_dir.empty() ? default_cache_dir() : std::filesystem::path(args.cache_dir);
  options.core.protocol_version = args.test_protocol_version;
  options.core.device_name = args.device;
  for (const std::string& m : args.models) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(m, ec)) return not_found("--model {}: no such file", m);
    options.core.model_files.emplace_back(m);
  }
  if (!args.models_dir.empty()) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(args.models_dir, ec)) {
      std::error_code kind;
      if (entry.is_regular_file(kind) && entry.path().extension() == ".gguf") {
        options.core.model_files.push_back(entry.path());
      }
    }
    if (ec) return io_error("--models-dir {}: {}", args.models_dir, ec.message());
  }
  if (!args.mem.empty()) {
    STRATA_ASSIGN_OR_RETURN(options.core.memory_limit, parse_memory(args.mem));
  }

  // A worker runs every layer a coordinator gives it on one device (its stage backend).
  if (args.device.find(',') != std::string::npos) {
    return invalid_argument("--device {}: a worker serves its stages on one device; start one worker per GPU",
                            args.device);
  }
  STRATA_ASSIGN_OR_RETURN(const model::Device device, model::parse_device(args.device));
  if (device.is_gpu() && !have_cuda()) {
    return unsupported("--device {}: this strata was built without the CUDA backend; use --device cpu, or build "
                       "with `make cuda`",
                       args.device);
  }
  STRATA_ASSIGN_OR_RETURN(auto backend, make_device_backend(device, static_cast<int>(args.threads)));
  STRATA_ASSIGN_OR_RETURN(auto server, dist::WorkerServer::start(*backend, options));
  // Tests and scripts read the bound port from this line (--port 0 picks a free one).
  std::printf("strata worker listening on %s\n", server->address().c_str());
  std::fflush(stdout);
  spdlog::info("worker ready on {} ({}): {} CPU threads, {:.1f} MiB offered, cache {}, {} local model file(s), token {}",
               args.device, backend->capabilities().device, args.threads,
               static_cast<double>(server->core().offered_memory()) / 1048576.0,
               options.core.cache_dir.string(), options.core.model_files.size(),
               options.token.empty() ? "none" : "required");

  std::thread waiter([&server] { server->wait(); });
  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("signal {}: shutting down", received);
  server->shutdown();
  waiter.join();
  return {};
}

const bool kRegistered = register_command({
    .name = "worker",
    .description = "serve layer stages to a coordinator (strata serve/run --worker HOST:PORT)",
    .order = 15,
    .setup =
        [](CLI::App& app) {
          auto args = std::make_shared<WorkerArgs>();
          app.add_option("--host", args->host, "address to listen on (a non-loopback one needs --token)")
              ->capture_default_str();
          app.add_option("--port", args->port, "port; 0 picks a free one (printed at start)")->capture_default_str();
          app.add_option("--token", args->token, "shared secret every call must carry (default: env STRATA_TOKEN)");
          app.add_option("--tls-cert", args->tls_cert, "PEM certificate: serve over TLS (with --tls-key)");
          app.add_option("--tls-key", args->tls_key, "PEM private key of --tls-cert");
          app.add_option("--tls-ca", args->tls_ca, "PEM CA that signs the next workers' certificates");
          app.add_option("--cache-dir", args->cache_dir,
                         "where received stages are kept (default: ~/.cache/strata/stages)");
          app.add_option("--model", args->models, "a local GGUF copy stages may load from (repeatable)");
          app.add_option("--models-dir", args->models_dir, "a folder of local GGUF copies");
          app.add_option("--device", args->device, "cpu, cuda or cuda:N (a CUDA build)")->capture_default_str();
          app.add_option("--mem", args->mem, "memory offered to coordinators, e.g. 24G (default: free memory)");
          app.add_option("-t,--threads", args->threads, "CPU threads")->capture_default_str();
          app.add_flag("--insecure", args->insecure, "allow a non-loopback --host without a token");
          // Pretends to be another protocol version, to test the coordinator's refusal.
          app.add_option("--test-protocol-version", args->test_protocol_version)->group("");
          return [args]() { return run_worker(*args); };
        },
});

}  // namespace
}  // namespace strata::cli
