// Request body parsing and typed field access (see json_fields.h).
#include "server/json_fields.h"

#include <cmath>

namespace strata::server {

namespace {

// Deepest [ / { nesting outside strings; stops counting once over the limit.
int json_depth(std::string_view text) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
      if (deepest > kMaxJsonDepth) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

std::string format_number(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    return fmt::format("{}", static_cast<int64_t>(value));
  }
  return fmt::format("{}", value);
}

}  // namespace

ApiResult<Json> parse_json_object(std::string_view body) {
  if (body.empty()) {
    return bad_request(std::nullopt, "the request body is empty; send a JSON object (Content-Type: application/json)");
  }
  if (json_depth(body) > kMaxJsonDepth) {
    return bad_request(std::nullopt, "the request JSON nests deeper than {} levels; flatten it", kMaxJsonDepth);
  }
  Json document;
  try {
    document = Json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    // Keep nlohmann's "syntax error while parsing ... at line 1, column 9" without its id prefix.
    std::string message = e.what();
    if (const size_t close = message.find("] "); close != std::string::npos) message.erase(0, close + 2);
    return bad_request(std::nullopt, "the request body is not valid JSON: {}", message);
  }
  if (!document.is_object()) {
    return bad_request(std::nullopt, "the request body must be a JSON object, got {}", json_type_phrase(document));
  }
  return document;
}

std::string_view json_type_phrase(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    case Json::value_t::string: return "a string";
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    default: return "an unsupported value";
  }
}

FieldReader::FieldReader(const Json& object, std::string path) : object_(object), path_(std::move(path)) {}

const Json* FieldReader::find(std::string_view name) const {
  if (!object_.is_object()) return nullptr;
  const auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string FieldReader::param(std::string_view name) const {
  return path_.empty() ? std::string(name) : fmt::format("{}.{}", path_, name);
}

void FieldReader::fail(ApiError error) {
  if (!error_) error_ = std::move(error);
}

void FieldReader::type_error(std::string_view name, std::string_view expected, const Json& got) {
  fail(bad_request(param(name), "invalid type for '{}': expected {}, but got {} instead", param(name), expected,
                   json_type_phrase(got)));
}

std::optional<bool> FieldReader::boolean(std::string_view name) {
  const Json* value = find(name);
  if (failed() || value == nullptr) return std::nullopt;
  if (!value->is_boolean()) {
    type_error(name, "a boolean", *value);
    return std::nullopt;
  }
  return value->get<bool>();
}

std::optional<int64_t> FieldReader::integer(std::string_view name, int64_t min, int64_t max) {
  const Json* value = find(name);
  if (failed() || value == nullptr) return std::nullopt;
  if (!value->is_number_integer()) {
    type_error(name, "an integer", *value);
    return std::nullopt;
  }
  bool in_range;
  std::string shown;
  int64_t result = 0;
  if (value->is_number_unsigned()) {
    const uint64_t u = value->get<uint64_t>();
    in_range = u <= static_cast<uint64_t>(INT64_MAX) && static_cast<int64_t>(u) >= min &&
               static_cast<int64_t>(u) <= max;
    result = in_range ? static_cast<int64_t>(u) : 0;
    shown = fmt::format("{}", u);
  } else {
    result = value->get<int64_t>();
    in_range = result >= min && result <= max;
    shown = fmt::format("{}", result);
  }
  if (!in_range) {
    fail(bad_request(param(name), "'{}' is {}, out of range; it must be between {} and {}", param(name), shown, min,
                     max));
    return std::nullopt;
  }
  return result;
}

std::optional<double> FieldReader::number(std::string_view name, double min, double max) {
  const Json* value = find(name);
  if (failed() || value == nullptr) return std::nullopt;
  if (!value->is_number()) {
    type_error(name, "a number", *value);
    return std::nullopt;
  }
  const double result = value->get<double>();
  if (!(result >= min && result <= max)) {
    fail(bad_request(param(name), "'{}' is {}, out of range; it must be between {} and {}", param(name),
                     format_number(result), format_number(min), format_number(max)));
    return std::nullopt;
  }
  return result;
}

std::optional<std::string> FieldReader::string(std::string_view name) {
  const Json* value = find(name);
  if (failed() || value == nullptr) return std::nullopt;
  if (!value->is_string()) {
    type_error(name, "a string", *value);
    return std::nullopt;
  }
  return value->get<std::string>();
}

const Json* FieldReader::object(std::string_view name) {
  const Json* value = find(name);
  if (failed() || value == nullptr) return nullptr;
  if (!value->is_object()) {
    type_error(name, "an object", *value);
    return nullptr;
  }
  return value;
}

}  // namespace strata::server
