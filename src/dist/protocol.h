// What both ends of the worker protocol agree on: version, limits, auth metadata, and the
// mapping between strata's Status and gRPC's status codes.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace strata::dist {

// Bumped on any incompatible change of proto/worker.proto or of what a message means.
inline constexpr uint32_t kProtocolVersion = 1;
// Largest message either side accepts: a batch of 2048 hidden states of the 70B shape (8192
// floats) is 64 MiB; uploads travel in kUploadChunkBytes pieces.
inline constexpr int kMaxMessageBytes = 128 << 20;
inline constexpr size_t kUploadChunkBytes = size_t{4} << 20;

inline constexpr const char* kAuthHeader = "authorization";  // "Bearer <token>"
inline constexpr const char* kVersionHeader = "x-strata-protocol";

std::string_view build_version();  // strata's version, e.g. "0.1.0"

// Compares in time that depends only on the lengths, so a peer learns nothing from timing.
bool constant_time_equal(std::string_view a, std::string_view b);

// Checks the token and protocol version a call carries. `expected_token` empty: any token.
// The version test can be moved off kProtocolVersion for tests (a fake "older" worker).
grpc::Status check_call(const grpc::ServerContext& context, std::string_view expected_token, uint32_t version);

// Token, version and a deadline on an outgoing call.
void prepare_call(grpc::ClientContext& context, std::string_view token, std::chrono::milliseconds timeout,
                  uint32_t version = kProtocolVersion);

grpc::Status to_grpc(const Status& status);
// `peer` names the other end in the message ("worker 10.0.0.2:50052: ...").
Status from_grpc(const grpc::Status& status, std::string_view peer);

// 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach.
bool is_loopback_host(std::string_view host);

// gRPC channel/server settings both sides use: keepalive pings (a dead peer is noticed in
// seconds, not at the TCP timeout), message limits, quick reconnects.
grpc::ChannelArguments channel_arguments();

}  // namespace strata::dist
