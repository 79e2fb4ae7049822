// Reading request JSON at the edge: parsing a body with bounded nesting, and typed, range-checked
// field access that reports the first problem as an OpenAI-style 400 naming the field.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/api_error.h"

namespace strata::server {

using Json = nlohmann::ordered_json;

// Deeper nesting is refused before parsing (bodies are at most a few MiB, but "[[[[..." would
// otherwise make every later recursive walk, from tojson to serialization, a stack risk).
inline constexpr int kMaxJsonDepth = 64;

// A JSON object body; errors: not JSON (with nlohmann's position), invalid UTF-8 in a string,
// too deep, or not an object.
ApiResult<Json> parse_json_object(std::string_view body);

// "a string", "an integer", ... for error messages.
std::string_view json_type_phrase(const Json& value);

// Typed access to the fields of one object. Absent and null fields read as nullopt. The first
// wrong type or range is kept as error(); later reads then return nullopt, so a parser can
// read every field and check failed() once.
class FieldReader {
 public:
  // `path` prefixes field names in errors ("messages[2]" gives param "messages[2].role").
  explicit FieldReader(const Json& object, std::string path = "");

  const Json* find(std::string_view name) const;  // null when absent or JSON null
  std::string param(std::string_view name) const;

  std::optional<bool> boolean(std::string_view name);
  std::optional<int64_t> integer(std::string_view name, int64_t min, int64_t max);
  std::optional<double> number(std::string_view name, double min, double max);
  std::optional<std::string> string(std::string_view name);
  // An object (returned as a pointer into the document).
  const Json* object(std::string_view name);

  // Records an error unless one is already recorded.
  void fail(ApiError error);
  bool failed() const { return error_.has_value(); }
  const ApiError& error() const { return *error_; }

 private:
  void type_error(std::string_view name, std::string_view expected, const Json& got);

  const Json& object_;
  std::string path_;
  std::optional<ApiError> error_;
};

}  // namespace strata::server
