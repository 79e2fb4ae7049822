// `strata worker`'s gRPC server: listens, checks token and version on every call, and hands
// decoded messages to a WorkerCore. Forwards to the next hop of a route over its own client.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/status.h"
#include "dist/worker_core.h"

namespace strata::dist {

struct WorkerServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: an ephemeral port (see WorkerServer::port())
  std::string token;  // checked on every call; also sent to the next hop
  bool insecure = false;  // allows a non-loopback address without a token
  std::string tls_cert_file, tls_key_file;  // PEM; both or neither
  std::string tls_ca_file;  // PEM: trust for the next hop's certificate
  WorkerConfig core;
};

class WorkerServer {
 public:
  // Refuses a non-loopback host without a token (unless insecure), half a TLS pair, an
  // unusable port. Starts serving before it returns.
  static Result<std::unique_ptr<WorkerServer>> start(backend::Backend& backend, WorkerServerOptions options);
  ~WorkerServer();

  int port() const { return port_; }
  std::string address() const;
  WorkerCore& core() { return *core_; }
  // Blocks until shutdown() (from another thread).
  void wait();
  // Stops accepting calls, cancels streams still open after a second, returns when done.
  void shutdown();

 private:
  WorkerServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<WorkerCore> core_;
  WorkerServerOptions options_;
  int port_ = 0;
};

// Reads a whole (small) PEM file; errors name the flag and path.
Result<std::string> read_pem(const std::string& path, std::string_view flag);

// HOST:PORT with IPv6 hosts in brackets.
std::string host_port(const std::string& host, int port);

}  // namespace strata::dist
