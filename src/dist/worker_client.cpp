// WorkerClient: calls to one worker with deadlines, and the stage upload.
#include "dist/worker_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "dist/stage_cache.h"
#include "dist/worker_server.h"

namespace strata::dist {

Status check_worker_address(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0) {
    return invalid_argument("worker address '{}' has no port; give HOST:PORT, e.g. 10.0.0.2:50052", address);
  }
  const char* begin = address.data() + colon + 1;
  const char* end = address.data() + address.size();
  const auto [ptr, ec] = std::from_chars(begin, end, port);
  if (ec != std::errc() || ptr != end || port < 1 || port > 65535) {
    return invalid_argument("worker address '{}': the port must be 1 to 65535; give HOST:PORT", address);
  }
  return {};
}

Result<std::unique_ptr<WorkerClient>> WorkerClient::connect(const std::string& address, const ClientOptions& options) {
  STRATA_TRY(check_worker_address(address));
  std::unique_ptr<WorkerClient> client(new WorkerClient());
  client->address_ = address;
  client->options_ = options;
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.tls_ca_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    STRATA_ASSIGN_OR_RETURN(ssl.pem_root_certs, read_pem(options.tls_ca_file, "--tls-ca"));
    credentials = grpc::SslCredentials(ssl);
  }
  client->channel_ = grpc::CreateCustomChannel(address, credentials, channel_arguments());
  client->stub_ = v1::Worker::NewStub(client->channel_);
  STRATA_TRY(client->handshake());
  return client;
}

Status WorkerClient::handshake() {
  grpc::ClientContext context;
  prepare_call(context, options_.token, options_.call_timeout, options_.protocol_version);
  context.set_wait_for_ready(false);
  v1::HandshakeRequest request;
  request.set_protocol_version(options_.protocol_version);
  request.set_build(std::string(build_version()));
  v1::HandshakeReply reply;
  STRATA_TRY(from_grpc(stub_->Handshake(&context, request, &reply), address_));
  if (reply.protocol_version() != options_.protocol_version) {
    return unsupported("worker {} (strata {}) speaks strata protocol {}, this coordinator (strata {}) speaks {}; run "
                       "the same strata version everywhere",
                       address_, reply.build().substr(0, 64), reply.protocol_version(), build_version(),
                       options_.protocol_version);
  }
  info_ = std::move(reply);
  return {};
}

Result<v1::PrepareReply> WorkerClient::prepare(const v1::PrepareRequest& request) {
  grpc::ClientContext context;
  prepare_call(context, options_.token, options_.prepare_timeout, options_.protocol_version);
  v1::PrepareReply reply;
  STRATA_TRY(from_grpc(stub_->PrepareStage(&context, request, &reply), address_));
  return reply;
}

Status WorkerClient::upload(const gguf::File& file, model::LayerRange range, const StageIdentity& identity,
                            uint32_t n_vocab, const UploadProgress& progress) {
  STRATA_ASSIGN_OR_RETURN(auto tensors, stage_tensors(file, range));
  v1::UploadChunk first;
  STRATA_ASSIGN_OR_RETURN(*first.mutable_header(), make_upload_header(file, range, identity, n_vocab));
  const uint64_t total = first.header().data_bytes();

  grpc::ClientContext context;
  // A deadline that still allows a slow link: 10 minutes plus 20 MB/s.
  const auto timeout = std::chrono::milliseconds(600000 + total / 20000);
  prepare_call(context, options_.token, timeout, options_.protocol_version);
  v1::UploadReply reply;
  auto writer = stub_->UploadStage(&context, &reply);
  bool open = writer->Write(first);
  uint64_t done = 0;
  v1::UploadChunk chunk;
  for (const auto* t : tensors) {
    for (size_t off = 0; open && off < t->data.size(); off += kUploadChunkBytes) {
      const size_t n = std::min(kUploadChunkBytes, t->data.size() - off);
      chunk.set_data(t->data.data() + off, n);
      open = writer->Write(chunk);
      done += n;
      if (progress) progress(address_, done, total);
    }
  }
  if (open) writer->WritesDone();
  return from_grpc(writer->Finish(), address_);
}

Status WorkerClient::forward(const v1::ForwardRequest& request, v1::ForwardReply* reply) {
  grpc::ClientContext context;
  prepare_call(context, options_.token, options_.forward_timeout, options_.protocol_version);
  return from_grpc(stub_->Forward(&context, request, reply), address_);
}

void WorkerClient::forward_async(const v1::ForwardRequest& request,
                                 std::function<void(Status status, const v1::ForwardReply& reply)> done) {
  auto owned = std::make_unique<AsyncCall>();
  AsyncCall* call = owned.get();
  call->request = request;
  prepare_call(call->context, options_.token, options_.forward_timeout, options_.protocol_version);
  std::vector<std::unique_ptr<AsyncCall>> free_now;
  {
    std::lock_guard lock(pending_->mutex);
    free_now.swap(pending_->finished);  // freed below, outside the lock and any callback
    pending_->calls.emplace(&call->context, std::move(owned));
  }
  // The callback holds plain pointers: it must own nothing whose destruction touches the call.
  Pending* pending = pending_.get();
  stub_->async()->Forward(&call->context, &call->request, &call->reply,
                          [call, pending, done = std::move(done), peer = address_](grpc::Status status) {
                            done(from_grpc(status, peer), call->reply);
                            std::lock_guard lock(pending->mutex);
                            auto it = pending->calls.find(&call->context);
                            if (it != pending->calls.end()) {
                              pending->finished.push_back(std::move(it->second));
                              pending->calls.erase(it);
                            }
                            pending->idle.notify_all();
                          });
}

WorkerClient::~WorkerClient() {
  std::unique_lock lock(pending_->mutex);
  for (auto& [context, call] : pending_->calls) context->TryCancel();
  pending_->idle.wait(lock, [this] { return pending_->calls.empty(); });
  // Every callback has run; the calls are freed with pending_, after the channel is still alive.
  pending_->finished.clear();
}

Status WorkerClient::sequence_op(const v1::SequenceOpRequest& request) {
  grpc::ClientContext context;
  prepare_call(context, options_.token, options_.call_timeout, options_.protocol_version);
  v1::SequenceOpReply reply;
  return from_grpc(stub_->SequenceOp(&context, request, &reply), address_);
}

std::unique_ptr<grpc::ClientReader<v1::ForwardReply>> WorkerClient::open_results(grpc::ClientContext& context,
                                                                                 uint64_t session) {
  // No deadline: the stream lives as long as the chain; keepalives notice a dead worker.
  if (!options_.token.empty()) context.AddMetadata(kAuthHeader, fmt::format("Bearer {}", options_.token));
  context.AddMetadata(kVersionHeader, std::to_string(options_.protocol_version));
  v1::ResultsRequest request;
  request.set_session(session);
  return stub_->Results(&context, request);
}

}  // namespace strata::dist
