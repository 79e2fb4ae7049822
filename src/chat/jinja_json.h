// Conversion between JSON documents and template values, and Python json.dumps for tojson.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "chat/jinja_value.h"

namespace strata::chat::jinja {

// Objects keep their key order (use nlohmann::ordered_json to preserve the document's order).
// Nesting deeper than kMaxValueDepth raises a limit error.
Value from_json(Interpreter& in, const nlohmann::ordered_json& json);
Value from_json(Interpreter& in, const nlohmann::json& json);

struct JsonStyle {
  std::optional<std::string> indent;  // none: one line
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
  bool ensure_ascii = false;
};

// Python json.dumps(value, ...) with the given options; raises TypeError for values JSON
// cannot hold (undefined, macros, namespaces) and a limit error past max_bytes.
std::string dump_json(const Value& value, const JsonStyle& style, size_t max_bytes);

}  // namespace strata::chat::jinja
