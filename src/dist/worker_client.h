// The coordinator's connection to one worker: a channel with keepalives, the handshake, and
// one method per call, each with a deadline. Errors name the worker.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "dist/proto/worker.grpc.pb.h"
#include "dist/protocol.h"
#include "dist/stage_identity.h"
#include "gguf/file.h"
#include "model/weights.h"

namespace strata::dist {

struct ClientOptions {
  std::string token;        // sent on every call ("" sends none)
  std::string tls_ca_file;  // PEM that signs the workers' certificates; empty: plaintext
  std::chrono::milliseconds call_timeout{10000};     // handshake, sequence operations
  std::chrono::milliseconds forward_timeout{300000};  // one batch through a chain
  std::chrono::milliseconds prepare_timeout{600000};  // hashing and loading a stage
  uint32_t protocol_version = kProtocolVersion;       // tests pretend to be another version
};

// Called while a stage's tensors stream to a worker.
using UploadProgress = std::function<void(const std::string& worker, uint64_t done, uint64_t total)>;

class WorkerClient {
 public:
  // Cancels the calls still in flight and waits for their callbacks, so none outlives the client.
  ~WorkerClient();

  // Opens the channel and runs the handshake; refuses another protocol version, naming both.
  static Result<std::unique_ptr<WorkerClient>> connect(const std::string& address, const ClientOptions& options);

  const std::string& address() const { return address_; }
  const v1::HandshakeReply& info() const { return info_; }

  Status handshake();
  Result<v1::PrepareReply> prepare(const v1::PrepareRequest& request);
  // Streams the stage's metadata and tensors (the file's bytes, in stage_tensors order).
  Status upload(const gguf::File& file, model::LayerRange range, const StageIdentity& identity,
                uint32_t n_vocab, const UploadProgress& progress);
  Status forward(const v1::ForwardRequest& request, v1::ForwardReply* reply);
  // The same call without waiting: `done` runs on a gRPC thread with the outcome and the reply.
  // For a chain, whose output arrives on the Results stream before the acknowledgements have
  // travelled back through every stage.
  void forward_async(const v1::ForwardRequest& request,
                     std::function<void(Status status, const v1::ForwardReply& reply)> done);
  Status sequence_op(const v1::SequenceOpRequest& request);
  // The Results stream of a session (the caller reads it on its own thread).
  std::unique_ptr<grpc::ClientReader<v1::ForwardReply>> open_results(grpc::ClientContext& context, uint64_t session);

 private:
  WorkerClient() = default;
  // Asynchronous calls not yet completed.
  struct AsyncCall {
    grpc::ClientContext context;
    v1::ForwardRequest request;
    v1::ForwardReply reply;
  };
  // Asynchronous calls in flight, and finished ones waiting to be freed. A call's context must
  // not be destroyed from inside its completion callback: the callback object lives in the call,
  // and ~ClientContext would drop the call while gRPC still finishes it (a double unref,
  // "assertion failed: prior > 0"). So callbacks only move their call to `finished`, and the
  // next forward_async or the destructor frees it, outside any gRPC callback.
  struct Pending {
    std::mutex mutex;
    std::condition_variable idle;
    std::map<grpc::ClientContext*, std::unique_ptr<AsyncCall>> calls;
    std::vector<std::unique_ptr<AsyncCall>> finished;
  };

  std::shared_ptr<Pending> pending_ = std::make_shared<Pending>();
  std::string address_;
  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Worker::Stub> stub_;
  v1::HandshakeReply info_;
};

// Checks an "HOST:PORT" worker address (the error shows the form expected).
Status check_worker_address(const std::string& address);

}  // namespace strata::dist
