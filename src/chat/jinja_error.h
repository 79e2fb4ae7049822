// The error the template engine raises internally; the public API turns it into a Status.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

namespace strata::chat::jinja {

// Mirrors the Python exception classes Jinja users see, so messages read the same as with
// Hugging Face's renderer.
enum class ErrorType {
  kSyntax,         // TemplateSyntaxError
  kUndefined,      // UndefinedError
  kType,           // TypeError
  kValue,          // ValueError
  kZeroDivision,   // ZeroDivisionError
  kIndex,          // IndexError
  kRaised,         // TemplateError from raise_exception()
  kRuntime,        // TemplateRuntimeError
  kLimit,          // a safety limit (steps, output size, depth) was reached
};

std::string_view error_type_name(ErrorType type);

inline constexpr uint32_t kNoOffset = UINT32_MAX;

// Thrown inside the engine only (evaluation is deeply recursive and almost every operation
// can fail); jinja_template.cpp catches it at the API edge, so it never leaves the module.
class Error : public std::exception {
 public:
  Error(ErrorType type, std::string message, uint32_t offset = kNoOffset)
      : type_(type), message_(std::move(message)), offset_(offset) {}
  const char* what() const noexcept override { return message_.c_str(); }
  ErrorType type() const { return type_; }
  const std::string& message() const { return message_; }
  uint32_t offset() const { return offset_; }
  bool has_offset() const { return offset_ != kNoOffset; }
  void set_offset(uint32_t offset) { offset_ = offset; }

 private:
  ErrorType type_;
  std::string message_;
  uint32_t offset_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorType type, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(type, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void fail_at(uint32_t offset, ErrorType type, fmt::format_string<Args...> format,
                          Args&&... args) {
  throw Error(type, fmt::format(format, std::forward<Args>(args)...), offset);
}

}  // namespace strata::chat::jinja
