// JSON <-> template values (see jinja_json.h).
#include "chat/jinja_json.h"

#include <algorithm>
#include <cmath>

#include "chat/jinja_error.h"
#include "chat/jinja_format.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_text.h"

namespace strata::chat::jinja {

namespace {

template <typename Json>
Value convert(Interpreter& in, const Json& json, int depth) {
  if (depth > kMaxValueDepth) {
    fail(ErrorType::kLimit, "JSON input nested deeper than {} levels", kMaxValueDepth);
  }
  switch (json.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value::boolean(json.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value::integer(json.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = json.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::floating(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float: return Value::floating(json.template get<double>());
    case nlohmann::json::value_t::string: {
      const auto& s = json.template get_ref<const std::string&>();
      in.charge(s.size() / 16);
      return Value::string(s);
    }
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(convert(in, item, depth + 1));
      return in.make_list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value dict = in.make_dict();
      for (auto it = json.begin(); it != json.end(); ++it) {
        in.charge(1);
        dict.as_dict().set(Value::string(it.key()), convert(in, it.value(), depth + 1));
      }
      return dict;
    }
    default: return Value::none();  // binary and discarded values do not come from JSON text
  }
}

class Dumper {
 public:
  Dumper(const JsonStyle& style, size_t max_bytes) : style_(style), max_bytes_(max_bytes) {}

  void dump(const Value& v, int depth) {
    if (depth > kMaxValueDepth) {
      fail(ErrorType::kValue, "tojson: value nested deeper than {} levels (or circular)", kMaxValueDepth);
    }
    check_size();
    switch (v.kind()) {
      case Kind::kNone: out_ += "null"; return;
      case Kind::kBool: out_ += v.as_bool() ? "true" : "false"; return;
      case Kind::kInt: out_ += fmt::format("{}", v.as_int()); return;
      case Kind::kFloat: out_ += json_float(v.as_float()); return;
      case Kind::kString: dump_string(v.as_string()); return;
      case Kind::kList:
      case Kind::kTuple: {
        const auto& items = v.as_list().items;
        if (items.empty()) {
          out_ += "[]";
          return;
        }
        out_.push_back('[');
        for (size_t i = 0; i < items.size(); ++i) {
          if (i > 0) out_ += item_separator();
          newline(depth + 1);
          dump(items[i], depth + 1);
        }
        newline(depth);
        out_.push_back(']');
        return;
      }
      case Kind::kDict: {
        const DictObject& dict = v.as_dict();
        if (dict.empty()) {
          out_ += "{}";
          return;
        }
        std::vector<std::pair<std::string, const Value*>> entries;
        entries.reserve(dict.size());
        for (const auto& [key, value] : dict.entries()) entries.emplace_back(key_text(key), &value);
        if (style_.sort_keys) {
          std::stable_sort(entries.begin(), entries.end(),
                           [](const auto& a, const auto& b) { return a.first < b.first; });
        }
        out_.push_back('{');
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i > 0) out_ += item_separator();
          newline(depth + 1);
          dump_string(entries[i].first);
          out_ += style_.key_separator;
          dump(*entries[i].second, depth + 1);
        }
        newline(depth);
        out_.push_back('}');
        return;
      }
      case Kind::kUndefined: fail(ErrorType::kType, "Object of type Undefined is not JSON serializable");
      case Kind::kCallable: fail(ErrorType::kType, "Object of type function is not JSON serializable");
      case Kind::kNamespace: fail(ErrorType::kType, "Object of type Namespace is not JSON serializable");
      case Kind::kLoop: fail(ErrorType::kType, "Object of type LoopContext is not JSON serializable");
    }
  }

  std::string take() {
    check_size();
    return std::move(out_);
  }

 private:
  const std::string& item_separator() const { return style_.item_separator; }

  void newline(int depth) {
    if (!style_.indent.has_value()) return;
    out_.push_back('\n');
    for (int i = 0; i < depth; ++i) {
      out_ += *style_.indent;
      check_size();
    }
  }

  void check_size() const {
    if (out_.size() > max_bytes_) fail(ErrorType::kLimit, "tojson output exceeds {} bytes", max_bytes_);
  }

  static std::string json_float(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return float_repr(d);
  }

  std::string key_text(const Value& key) const {
    switch (key.kind()) {
      case Kind::kString: return key.as_string();
      case Kind::kInt: return fmt::format("{}", key.as_int());
      case Kind::kBool: return key.as_bool() ? "true" : "false";
      case Kind::kFloat: return json_float(key.as_float());
      case Kind::kNone: return "null";
      default:
        fail(ErrorType::kType, "keys must be str, int, float, bool or None, not {}", type_name(key));
    }
  }

  void dump_string(std::string_view s) {
    out_.push_back('"');
    size_t pos = 0;
    while (pos < s.size()) {
      const size_t start = pos;
      const char32_t c = text::decode(s, pos);
      switch (c) {
        case '"': out_ += "\\\""; continue;
        case '\\': out_ += "\\\\"; continue;
        case '\n': out_ += "\\n"; continue;
        case '\r': out_ += "\\r"; continue;
        case '\t': out_ += "\\t"; continue;
        case '\b': out_ += "\\b"; continue;
        case '\f': out_ += "\\f"; continue;
        default: break;
      }
      if (c < 0x20) {
        out_ += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
      } else if (style_.ensure_ascii && c >= 0x80 && pos - start > 1) {
        if (c >= 0x10000) {
          const char32_t v = c - 0x10000;
          out_ += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        } else {
          out_ += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
        }
      } else {
        out_.append(s.substr(start, pos - start));
      }
    }
    out_.push_back('"');
  }

  const JsonStyle& style_;
  size_t max_bytes_;
  std::string out_;
};

}  // namespace

Value from_json(Interpreter& in, const nlohmann::ordered_json& json) { return convert(in, json, 0); }
Value from_json(Interpreter& in, const nlohmann::json& json) { return convert(in, json, 0); }

std::string dump_json(const Value& value, const JsonStyle& style, size_t max_bytes) {
  Dumper dumper(style, max_bytes);
  dumper.dump(value, 0);
  return dumper.take();
}

}  // namespace strata::chat::jinja
