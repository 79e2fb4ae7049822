// Status and Result<T>: how every fallible strata function reports a user-facing error.
#pragma once

#include <fmt/format.h>

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace strata {

// Broad error classes; callers map them to exit codes, HTTP statuses or RPC codes.
enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // a setting or request field is wrong
  kNotFound,         // a file, key, tensor or model is missing
  kCorrupt,          // bytes do not follow their format (GGUF, RPC message, ...)
  kUnsupported,      // valid, but not something strata can do (type, architecture, ...)
  kIo,               // the operating system refused (open, read, write, mmap)
  kResourceExhausted,// memory, context or queue is full
  kUnavailable,      // a peer is gone or not ready
  kDeadlineExceeded,
  kCancelled,
  kPermissionDenied,
  kInternal,         // a strata bug: should never reach a user
};

std::string_view error_code_name(ErrorCode code);

// The message is written for the person who will read it: what failed, the value seen,
// and what would work. Context is prepended as "context: message".
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "reading model.gguf: tensor 'x' ..." — adds where the error happened.
  Status with_context(std::string_view context) const&;
  Status with_context(std::string_view context) &&;

  std::string to_string() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

template <typename... Args>
Status make_error(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  return Status(code, fmt::format(format, std::forward<Args>(args)...));
}
#define STRATA_ERROR_FACTORY(fn, code)                                        \
  template <typename... Args>                                                 \
  Status fn(fmt::format_string<Args...> format, Args&&... args) {            \
    return Status(code, fmt::format(format, std::forward<Args>(args)...));    \
  }
STRATA_ERROR_FACTORY(invalid_argument, ErrorCode::kInvalidArgument)
STRATA_ERROR_FACTORY(not_found, ErrorCode::kNotFound)
STRATA_ERROR_FACTORY(corrupt, ErrorCode::kCorrupt)
STRATA_ERROR_FACTORY(unsupported, ErrorCode::kUnsupported)
STRATA_ERROR_FACTORY(io_error, ErrorCode::kIo)
STRATA_ERROR_FACTORY(resource_exhausted, ErrorCode::kResourceExhausted)
STRATA_ERROR_FACTORY(unavailable, ErrorCode::kUnavailable)
STRATA_ERROR_FACTORY(internal_error, ErrorCode::kInternal)
#undef STRATA_ERROR_FACTORY

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : data_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    if (std::get<1>(data_).ok()) {
      data_.template emplace<1>(ErrorCode::kInternal, "Result constructed from an ok Status");
    }
  }

  bool ok() const { return data_.index() == 0; }
  explicit operator bool() const { return ok(); }

  const Status& status() const& {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(data_);
  }
  Status status() && { return ok() ? Status() : std::move(std::get<1>(data_)); }

  T& value() & { return std::get<0>(data_); }
  const T& value() const& { return std::get<0>(data_); }
  T&& value() && { return std::get<0>(std::move(data_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace strata

#define STRATA_CONCAT_INNER(a, b) a##b
#define STRATA_CONCAT(a, b) STRATA_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` (a Status) is an error.
#define STRATA_TRY(expr)                         \
  do {                                           \
    ::strata::Status strata_status_ = (expr);    \
    if (!strata_status_.ok()) return strata_status_; \
  } while (0)

// `STRATA_ASSIGN_OR_RETURN(auto x, f());` — unwraps a Result or returns its Status.
#define STRATA_ASSIGN_OR_RETURN(lhs, expr) \
  STRATA_ASSIGN_OR_RETURN_IMPL(STRATA_CONCAT(strata_result_, __LINE__), lhs, expr)
#define STRATA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()
