// ApiError: an error as the OpenAI API reports it (HTTP status plus {"error":{message, type,
// param, code}}), and ApiResult<T>, a value or such an error.
#pragma once

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "core/status.h"

namespace strata::server {

struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::optional<std::string> param;  // the request field at fault, e.g. "messages[1].role"
  std::optional<std::string> code;   // machine-readable, e.g. "invalid_api_key"
  int retry_after_s = 0;             // > 0: sent as a Retry-After header (503)

  nlohmann::ordered_json to_json() const;  // {"error": {...}}
  std::string body() const;                // to_json() serialized
};

// A 400 invalid_request_error about `param`.
template <typename... Args>
ApiError bad_request(std::optional<std::string> param, fmt::format_string<Args...> format, Args&&... args) {
  ApiError e;
  e.message = fmt::format(format, std::forward<Args>(args)...);
  e.param = std::move(param);
  return e;
}

// Maps a Status from a lower layer: invalid_argument -> 400, resource_exhausted -> 503 with
// Retry-After, unavailable -> 503, deadline_exceeded -> 504, anything else -> 500.
ApiError api_error_from_status(const Status& status, int retry_after_s = 1);

template <typename T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(T value) : data_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit
  ApiResult(ApiError error) : data_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return data_.index() == 0; }
  T& value() & { return std::get<0>(data_); }
  const T& value() const& { return std::get<0>(data_); }
  T&& value() && { return std::get<0>(std::move(data_)); }
  const ApiError& error() const { return std::get<1>(data_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, ApiError> data_;
};

}  // namespace strata::server
