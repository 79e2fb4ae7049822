// OpenAI-style error bodies and the mapping from strata Status codes to HTTP statuses.
#include "server/api_error.h"

namespace strata::server {

nlohmann::ordered_json ApiError::to_json() const {
  nlohmann::ordered_json error;
  error["message"] = message;
  error["type"] = type;
  error["param"] = param ? nlohmann::ordered_json(*param) : nlohmann::ordered_json(nullptr);
  error["code"] = code ? nlohmann::ordered_json(*code) : nlohmann::ordered_json(nullptr);
  nlohmann::ordered_json out;
  out["error"] = std::move(error);
  return out;
}

std::string ApiError::body() const {
  // Messages may quote client bytes; replace rather than throw on anything not UTF-8.
  return to_json().dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

ApiError api_error_from_status(const Status& status, int retry_after_s) {
  ApiError e;
  e.message = status.message();
  switch (status.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kCorrupt:
    case ErrorCode::kUnsupported:
    case ErrorCode::kNotFound:
      e.http_status = 400;
      break;
    case ErrorCode::kResourceExhausted:
      e.http_status = 503;
      e.type = "server_error";
      e.code = "server_overloaded";
      e.retry_after_s = retry_after_s;
      break;
    case ErrorCode::kUnavailable:
      e.http_status = 503;
      e.type = "server_error";
      e.code = "unavailable";
      e.retry_after_s = retry_after_s;
      break;
    case ErrorCode::kDeadlineExceeded:
      e.http_status = 504;
      e.type = "server_error";
      e.code = "timeout";
      break;
    case ErrorCode::kPermissionDenied:
      e.http_status = 403;
      e.code = "permission_denied";
      break;
    default:
      e.http_status = 500;
      e.type = "server_error";
      break;
  }
  return e;
}

}  // namespace strata::server
