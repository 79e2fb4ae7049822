// Protocol constants, auth and version checks, Status <-> grpc::Status.
#include "dist/protocol.h"

#include <fmt/format.h>

#include <charconv>

namespace strata::dist {

#ifndef STRATA_DIST_BUILD
#define STRATA_DIST_BUILD "unknown"
#endif

std::string_view build_version() { return STRATA_DIST_BUILD; }

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Every byte of the longer string is visited whatever the contents; lengths leak, contents do not.
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

namespace {

std::string_view header(const grpc::ServerContext& context, const char* key) {
  const auto& meta = context.client_metadata();
  const auto it = meta.find(key);
  if (it == meta.end()) return {};
  return {it->second.data(), it->second.size()};
}

}  // namespace

grpc::Status check_call(const grpc::ServerContext& context, std::string_view expected_token, uint32_t version) {
  if (!expected_token.empty()) {
    std::string_view auth = header(context, kAuthHeader);
    if (auth.empty()) {
      return {grpc::StatusCode::UNAUTHENTICATED,
              "this worker needs a token and the call carried none; give the coordinator --worker-token (or env "
              "STRATA_TOKEN) with the worker's --token"};
    }
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.substr(0, kBearer.size()) == kBearer) auth.remove_prefix(kBearer.size());
    if (!constant_time_equal(auth, expected_token)) {
      return {grpc::StatusCode::UNAUTHENTICATED,
              "wrong token: the coordinator's --worker-token (or STRATA_TOKEN) differs from the worker's --token"};
    }
  }
  const std::string_view seen = header(context, kVersionHeader);
  uint32_t peer_version = 0;
  const auto [ptr, ec] = std::from_chars(seen.data(), seen.data() + seen.size(), peer_version);
  if (seen.empty() || ec != std::errc() || ptr != seen.data() + seen.size()) {
    return {grpc::StatusCode::FAILED_PRECONDITION,
            fmt::format("the call names no strata protocol version (header {} is '{}'); this worker speaks version "
                        "{} (strata {})",
                        kVersionHeader, seen, version, build_version())};
  }
  if (peer_version != version) {
    return {grpc::StatusCode::FAILED_PRECONDITION,
            fmt::format("protocol version mismatch: the caller speaks strata protocol {}, this worker speaks {} "
                        "(strata {}); run the same strata version on the coordinator and every worker",
                        peer_version, version, build_version())};
  }
  return grpc::Status::OK;
}

void prepare_call(grpc::ClientContext& context, std::string_view token, std::chrono::milliseconds timeout,
                  uint32_t version) {
  if (!token.empty()) context.AddMetadata(kAuthHeader, fmt::format("Bearer {}", token));
  context.AddMetadata(kVersionHeader, std::to_string(version));
  context.set_deadline(std::chrono::system_clock::now() + timeout);
}

grpc::Status to_grpc(const Status& status) {
  using C = grpc::StatusCode;
  C code = C::UNKNOWN;
  switch (status.code()) {
    case ErrorCode::kOk: return grpc::Status::OK;
    case ErrorCode::kInvalidArgument: code = C::INVALID_ARGUMENT; break;
    case ErrorCode::kNotFound: code = C::NOT_FOUND; break;
    case ErrorCode::kCorrupt: code = C::DATA_LOSS; break;
    case ErrorCode::kUnsupported: code = C::FAILED_PRECONDITION; break;
    case ErrorCode::kIo: code = C::INTERNAL; break;
    case ErrorCode::kResourceExhausted: code = C::RESOURCE_EXHAUSTED; break;
    case ErrorCode::kUnavailable: code = C::UNAVAILABLE; break;
    case ErrorCode::kDeadlineExceeded: code = C::DEADLINE_EXCEEDED; break;
    case ErrorCode::kCancelled: code = C::CANCELLED; break;
    case ErrorCode::kPermissionDenied: code = C::PERMISSION_DENIED; break;
    case ErrorCode::kInternal: code = C::INTERNAL; break;
  }
  return {code, status.message()};
}

Status from_grpc(const grpc::Status& status, std::string_view peer) {
  using C = grpc::StatusCode;
  if (status.ok()) return {};
  ErrorCode code = ErrorCode::kInternal;
  switch (status.error_code()) {
    case C::INVALID_ARGUMENT: code = ErrorCode::kInvalidArgument; break;
    case C::NOT_FOUND: code = ErrorCode::kNotFound; break;
    case C::DATA_LOSS: code = ErrorCode::kCorrupt; break;
    case C::FAILED_PRECONDITION: code = ErrorCode::kUnsupported; break;
    case C::RESOURCE_EXHAUSTED: code = ErrorCode::kResourceExhausted; break;
    case C::UNAVAILABLE: code = ErrorCode::kUnavailable; break;
    case C::DEADLINE_EXCEEDED: code = ErrorCode::kDeadlineExceeded; break;
    case C::CANCELLED: code = ErrorCode::kCancelled; break;
    case C::UNAUTHENTICATED:
    case C::PERMISSION_DENIED: code = ErrorCode::kPermissionDenied; break;
    default: code = ErrorCode::kInternal; break;
  }
  std::string message = status.error_message();
  if (status.error_code() == C::UNAVAILABLE && message.find("worker") == std::string::npos) {
    message = fmt::format("unreachable ({}); is `strata worker` running there?", message);
  }
  if (status.error_code() == C::DEADLINE_EXCEEDED) message = fmt::format("no answer in time ({})", message);
  return Status(code, fmt::format("worker {}: {}", peer, message));
}

bool is_loopback_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.substr(0, 4) == "127.";
}

grpc::ChannelArguments channel_arguments() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  return args;
}

}  // namespace strata::dist
