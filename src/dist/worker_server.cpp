// WorkerServer: the gRPC service around WorkerCore, TLS, limits and keepalives.
#include "dist/worker_server.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "dist/protocol.h"
#include "dist/proto/worker.grpc.pb.h"

namespace strata::dist {
namespace {

constexpr auto kNextHopTimeout = std::chrono::minutes(5);

class WorkerService final : public v1::Worker::Service {
 public:
  WorkerService(WorkerCore& core, std::string token) : core_(core), token_(std::move(token)) {}

  grpc::Status Handshake(grpc::ServerContext* context, const v1::HandshakeRequest* request,
                         v1::HandshakeReply* reply) override {
    if (grpc::Status s = check(*context); !s.ok()) return s;
    return to_grpc(core_.handshake(*request, reply));
  }

  grpc::Status PrepareStage(grpc::ServerContext* context, const v1::PrepareRequest* request,
                            v1::PrepareReply* reply) override {
    if (grpc::Status s = check(*context); !s.ok()) return s;
    return to_grpc(core_.prepare(*request, reply));
  }

  grpc::Status UploadStage(grpc::ServerContext* context, grpc::ServerReader<v1::UploadChunk>* reader,
                           v1::UploadReply* reply) override {
    if (grpc::Status s = check(*context); !s.ok()) return s;
    v1::UploadChunk chunk;
    if (!reader->Read(&chunk) || !chunk.has_header()) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "an upload starts with its header message"};
    }
    const v1::UploadHeader header = chunk.header();
    ChunkSource next = [&]() -> Result<std::optional<std::string>> {
      if (context->IsCancelled()) return Status(ErrorCode::kCancelled, "the coordinator cancelled the upload");
      v1::UploadChunk part;
      if (!reader->Read(&part)) return std::optional<std::string>{};
      if (!part.has_data()) return corrupt("an upload has one header, then only data messages");
      return std::optional<std::string>(std::move(*part.mutable_data()));
    };
    return to_grpc(core_.upload(header, next, reply));
  }

  grpc::Status Forward(grpc::ServerContext* context, const v1::ForwardRequest* request,
                       v1::ForwardReply* reply) override {
    if (grpc::Status s = check(*context); !s.ok()) return s;
    return to_grpc(core_.forward(*request, reply));
  }

  grpc::Status Results(grpc::ServerContext* context, const v1::ResultsRequest* request,
                       grpc::ServerWriter<v1::ForwardReply>* writer) override {
    if (grpc::Status s = check(*context); !s.ok()) return s;
    if (request->session() == 0) return {grpc::StatusCode::INVALID_ARGUMENT, "Results: session 0 is not a session"};
    auto queue = core_.open_session(request->session());
    v1::ForwardReply ready;  // request_id 0: the stream is open
    bool open = writer->Write(ready);
    while (open && !context->IsCancelled() && !queue->closed()) {
      std::optional<v1::ForwardReply> item = queue->pop(std::chrono::milliseconds(200));
      if (item.has_value()) open = writer->Write(*item);
    }
    core_.close_session(request->session(), queue);
    return grpc::Status::OK;
  }

  grpc::Status SequenceOp(grpc::ServerContext* context, const v1::SequenceOpRequest* request,
                          v1::SequenceOpReply*) override {
    if (grpc::Status s = check(*context); !s.ok()) return s;
    return to_grpc(core_.sequence_op(*request));
  }

 private:
  grpc::Status check(const grpc::ServerContext& context) const {
    grpc::Status s = check_call(context, token_, core_.protocol_version());
    if (!s.ok()) spdlog::warn("refused a call from {}: {}", context.peer(), s.error_message());
    return s;
  }

  WorkerCore& core_;
  std::string token_;
};

// The worker's client side for the next hop of a route; one channel per address.
class NextHops {
 public:
  NextHops(std::string token, std::shared_ptr<grpc::ChannelCredentials> credentials)
      : token_(std::move(token)), credentials_(std::move(credentials)) {}

  Status send(const std::string& address, const v1::ForwardRequest& request, v1::ForwardReply* reply) {
    if (address.empty() || address.size() > 256) return invalid_argument("a route names an empty or overlong address");
    v1::Worker::Stub* stub = nullptr;
    {
      std::lock_guard lock(mutex_);
      auto& slot = stubs_[address];
      if (!slot) {
        if (stubs_.size() > 64) return resource_exhausted("routes name more than 64 distinct next hops");
        auto channel = grpc::CreateCustomChannel(address, credentials_, channel_arguments());
        slot = v1::Worker::NewStub(channel);
      }
      stub = slot.get();
    }
    grpc::ClientContext context;
    prepare_call(context, token_, std::chrono::duration_cast<std::chrono::milliseconds>(kNextHopTimeout));
    return from_grpc(stub->Forward(&context, request, reply), address);
  }

 private:
  std::string token_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<v1::Worker::Stub>> stubs_;
};

}  // namespace

struct WorkerServer::Impl {
  std::unique_ptr<NextHops> hops;
  std::unique_ptr<WorkerService> service;
  std::unique_ptr<grpc::Server> server;
  std::once_flag stopped;
};

Result<std::string> read_pem(const std::string& path, std::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("{} {}: cannot open the file", flag, path);
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().find("-----BEGIN") == std::string::npos) {
    return invalid_argument("{} {}: not a PEM file (no -----BEGIN line)", flag, path);
  }
  return text.str();
}

std::string host_port(const std::string& host, int port) {
  if (host.find(':') != std::string::npos && host.front() != '[') return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

Result<std::unique_ptr<WorkerServer>> WorkerServer::start(backend::Backend& backend, WorkerServerOptions options) {
  if (options.port < 0 || options.port > 65535) {
    return invalid_argument("--port {} is out of range; use 1 to 65535, or 0 for any free port", options.port);
  }
  if (options.host.empty()) return invalid_argument("--host is empty; give an address such as 127.0.0.1 or 0.0.0.0");
  if (options.token.empty() && !is_loopback_host(options.host)) {
    if (!options.insecure) {
      return Status(ErrorCode::kPermissionDenied,
                    fmt::format("refusing to listen on {} without a token: anyone who can reach it could use this "
                                "machine; give --token (or env STRATA_TOKEN), or --insecure to accept that",
                                options.host));
    }
    spdlog::warn("listening on {} without a token (--insecure): anyone who can reach this port can use the worker",
                 options.host);
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return invalid_argument("TLS needs both --tls-cert and --tls-key; got only {}",
                            options.tls_cert_file.empty() ? "--tls-key" : "--tls-cert");
  }
  std::shared_ptr<grpc::ServerCredentials> server_credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert_file.empty()) {
    STRATA_ASSIGN_OR_RETURN(std::string cert, read_pem(options.tls_cert_file, "--tls-cert"));
    STRATA_ASSIGN_OR_RETURN(std::string key, read_pem(options.tls_key_file, "--tls-key"));
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({key, cert});
    server_credentials = grpc::SslServerCredentials(ssl);
  }
  std::shared_ptr<grpc::ChannelCredentials> client_credentials = grpc::InsecureChannelCredentials();
  if (!options.tls_ca_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    STRATA_ASSIGN_OR_RETURN(ssl.pem_root_certs, read_pem(options.tls_ca_file, "--tls-ca"));
    client_credentials = grpc::SslCredentials(ssl);
  }

  std::unique_ptr<WorkerServer> server(new WorkerServer());
  server->options_ = options;
  server->impl_ = std::make_unique<Impl>();
  server->impl_->hops = std::make_unique<NextHops>(options.token, client_credentials);
  NextHops* hops = server->impl_->hops.get();
  STRATA_ASSIGN_OR_RETURN(server->core_,
                          WorkerCore::create(backend, options.core,
                                             [hops](const std::string& address, const v1::ForwardRequest& request,
                                                    v1::ForwardReply* reply) { return hops->send(address, request, reply); }));
  server->impl_->service = std::make_unique<WorkerService>(*server->core_, options.token);

  grpc::ServerBuilder builder;
  int selected = 0;
  builder.AddListeningPort(host_port(options.host, options.port), server_credentials, &selected);
  builder.RegisterService(server->impl_->service.get());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  // Two workers must not share a port silently.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  server->impl_->server = builder.BuildAndStart();
  if (!server->impl_->server || selected == 0) {
    return unavailable("cannot listen on {} (address in use or not on this machine?); pick another --host/--port",
                       host_port(options.host, options.port));
  }
  server->port_ = selected;
  return server;
}

WorkerServer::~WorkerServer() { shutdown(); }

std::string WorkerServer::address() const { return host_port(options_.host, port_); }

void WorkerServer::wait() {
  if (impl_ && impl_->server) impl_->server->Wait();
}

void WorkerServer::shutdown() {
  if (!impl_ || !impl_->server) return;
  std::call_once(impl_->stopped, [this] {
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  });
}

}  // namespace strata::dist
