// Builtin filters on strings and numbers (Jinja 3.1 semantics; tojson as in Hugging Face).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "chat/jinja_args.h"
#include "chat/jinja_error.h"
#include "chat/jinja_filters.h"
#include "chat/jinja_format.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_json.h"
#include "chat/jinja_text.h"

namespace strata::chat::jinja::filters {

namespace {

// Python int(text, base) for the ranges strata represents; nullopt when Python would raise
// ValueError.
std::optional<int64_t> parse_int(std::string_view s, int base) {
  s = text::strip(s, nullptr, true, true);
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.size() > 2 && s[0] == '0') {
    const char p = static_cast<char>(s[1] | 0x20);
    const int prefix_base = p == 'x' ? 16 : (p == 'o' ? 8 : (p == 'b' ? 2 : 0));
    if (prefix_base != 0 && (base == prefix_base || base == 0)) {
      base = prefix_base;
      s.remove_prefix(2);
      if (!s.empty() && s[0] == '_') s.remove_prefix(1);
    }
  }
  if (base == 0) base = 10;
  if (s.empty()) return std::nullopt;
  uint64_t value = 0;
  bool previous_digit = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_') {
      if (!previous_digit || i + 1 == s.size()) return std::nullopt;
      previous_digit = false;
      continue;
    }
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'z') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'Z') {
      d = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    if (d >= base) return std::nullopt;
    if (value > (static_cast<uint64_t>(INT64_MAX) - d) / base) {
      fail(ErrorType::kValue, "integer '{}' is too large (at most 64 bits are supported)", s);
    }
    value = value * base + d;
    previous_digit = true;
  }
  return negative ? -static_cast<int64_t>(value) : static_cast<int64_t>(value);
}

// Python float(text); nullopt when Python would raise ValueError.
std::optional<double> parse_float(std::string_view s) {
  s = text::strip(s, nullptr, true, true);
  if (s.empty()) return std::nullopt;
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '_') {
      const bool ok = i > 0 && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
                      std::isdigit(static_cast<unsigned char>(s[i + 1]));
      if (!ok) return std::nullopt;
      continue;
    }
    if (c == 'x' || c == 'X' || c == 'p' || c == 'P') return std::nullopt;  // no hex floats
    clean.push_back(c);
  }
  char* end = nullptr;
  const double d = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return std::nullopt;
  return d;
}

double round_half_even(double x, int64_t digits) {
  if (!std::isfinite(x)) return x;
  if (digits > 22) return x;
  if (digits >= 0) {
    // printf rounds the exact binary value half-to-even, as Python's round() does.
    char buf[512];
    const int n = std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(digits), x);
    if (n <= 0 || static_cast<size_t>(n) >= sizeof(buf)) return x;
    return std::strtod(buf, nullptr);
  }
  if (digits < -308) return 0.0 * x;
  const double scale = std::pow(10.0, static_cast<double>(-digits));
  return std::nearbyint(x / scale) * scale;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace

Value capitalize(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("capitalize", args, {});
  return in.make_string(text::capitalize(to_str(value)));
}

Value lower(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("lower", args, {});
  return in.make_string(text::lower(to_str(value)));
}

Value upper(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("upper", args, {});
  return in.make_string(text::upper(to_str(value)));
}

Value title(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("title", args, {});
  // Words start after runs of '-', whitespace, '(', '{', '[' or '<'.
  const std::string s = to_str(value);
  std::string out;
  out.reserve(s.size());
  bool word_start = true;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t start = pos;
    const char32_t c = text::decode(s, pos);
    const bool separator = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || text::is_space(c);
    if (pos - start == 1 && c >= 0x80) {
      out.push_back(s[start]);
    } else if (separator) {
      text::append_utf8(out, c);
    } else {
      text::append_utf8(out, word_start ? text::to_upper(c) : text::to_lower(c));
    }
    word_start = separator;
  }
  return in.make_string(std::move(out));
}

Value center(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("center", args, {"width"});
  const std::string s = to_str(value);
  const int64_t width = a.get_int(0, 80);
  const auto len = static_cast<int64_t>(text::length(s));
  if (width <= len) return in.make_string(s);
  if (static_cast<uint64_t>(width) > in.limits().max_output_bytes) {
    fail(ErrorType::kLimit, "center(): width {} exceeds the {} byte limit", width, in.limits().max_output_bytes);
  }
  const int64_t margin = width - len;
  const int64_t left = margin / 2 + (margin & width & 1);
  return in.make_string(std::string(static_cast<size_t>(left), ' ') + s +
                        std::string(static_cast<size_t>(margin - left), ' '));
}

Value escape(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("escape", args, {});
  return in.make_string(html_escape(to_str(value)));
}

Value format(Interpreter& in, const Value& value, CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty()) {
    fail(ErrorType::kRuntime, "format(): can't handle positional and keyword arguments at the same time");
  }
  Value packed;
  if (!args.keyword.empty()) {
    packed = in.make_dict();
    for (const auto& [k, v] : args.keyword) packed.as_dict().set(Value::string(k), v);
  } else {
    packed = in.make_tuple(args.positional);
  }
  return in.make_string(percent_format(to_str(value), packed));
}

Value indent(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("indent", args, {"width", "first", "blank"});
  std::string indention;
  if (a.has(0) && a.get(0).is_string()) {
    indention = a.get(0).as_string();
  } else {
    const int64_t width = a.get_int(0, 4);
    if (width > 0) {
      if (static_cast<uint64_t>(width) > in.limits().max_output_bytes) {
        fail(ErrorType::kLimit, "indent(): width {} exceeds the {} byte limit", width, in.limits().max_output_bytes);
      }
      indention.assign(static_cast<size_t>(width), ' ');
    }
  }
  const bool first = a.get_bool(1, false);
  const bool blank = a.get_bool(2, false);
  if (value.is_undefined()) fail_undefined(value);
  if (!value.is_string()) {
    fail(ErrorType::kType, "unsupported operand type(s) for +=: '{}' and 'str'", type_name(value));
  }
  const std::vector<std::string> lines = text::splitlines(value.as_string() + "\n", false);
  std::string out;
  const size_t budget = in.limits().max_output_bytes;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out.push_back('\n');
    if ((i > 0 && (blank || !lines[i].empty())) || (i == 0 && first)) out += indention;
    out += lines[i];
    if (out.size() > budget) in.make_string(std::move(out));  // reports the limit
  }
  return in.make_string(std::move(out));
}

Value replace(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("replace", args, {"old", "new", "count"});
  const std::string s = to_str(value);
  const std::string from = to_str(a.get(0));
  const std::string to = to_str(a.get(1));
  const int64_t count = a.get_int(2, -1);
  // Bound the result before building it.
  const size_t hits = from.empty() ? text::length(s) + 1 : text::count(s, from);
  const size_t used = count < 0 ? hits : std::min<size_t>(hits, static_cast<size_t>(count));
  if (to.size() > from.size() && used > 0 &&
      (to.size() - from.size()) > (in.limits().max_output_bytes - std::min(s.size(), in.limits().max_output_bytes)) / used) {
    fail(ErrorType::kLimit, "replace(): the result would exceed {} bytes", in.limits().max_output_bytes);
  }
  return in.make_string(text::replace(s, from, to, count));
}

Value safe(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("safe", args, {});
  if (value.is_string()) return value;
  return in.make_string(to_str(value));
}

Value string(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("string", args, {});
  if (value.is_string()) return value;
  return in.make_string(to_str(value));
}

Value pprint(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("pprint", args, {});
  return in.make_string(to_repr(value));
}

Value tojson(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonStyle style;
  style.ensure_ascii = a.get_bool(0, false);
  if (a.has(1) && !a.get(1).is_none()) {
    const Value& indent_value = a.get(1);
    if (indent_value.is_string()) {
      style.indent = indent_value.as_string();
    } else {
      const int64_t n = to_int_arg(indent_value, "tojson", "indent");
      style.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(n, 0, 1024)), ' ');
    }
    style.item_separator.assign(1, ',');  // (a string literal here trips GCC 12 -Wrestrict)
  }
  if (a.has(2) && !a.get(2).is_none()) {
    const Value& sep = a.get(2);
    if (!sep.is_sequence() || sep.as_list().items.size() != 2 || !sep.as_list().items[0].is_string() ||
        !sep.as_list().items[1].is_string()) {
      fail(ErrorType::kType, "tojson(): separators must be a pair of strings, e.g. (',', ': ')");
    }
    style.item_separator = sep.as_list().items[0].as_string();
    style.key_separator = sep.as_list().items[1].as_string();
  }
  style.sort_keys = a.get_bool(3, false);
  return in.make_string(dump_json(value, style, in.limits().max_output_bytes));
}

Value trim(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("trim", args, {"chars"});
  const std::string s = to_str(value);
  if (a.has(0) && !a.get(0).is_none()) {
    const std::string chars = to_str(a.get(0));
    return in.make_string(std::string(text::strip(s, &chars, true, true)));
  }
  return in.make_string(std::string(text::strip(s, nullptr, true, true)));
}

Value truncate(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("truncate", args, {"length", "killwords", "end", "leeway"});
  if (value.is_undefined()) return value;
  if (!value.is_string()) {
    // Jinja measures the value itself; only short sequences pass through unchanged.
    const bool sized = value.is_sequence() || value.is_dict();
    const size_t n = value.is_dict() ? value.as_dict().size() : (sized ? value.as_list().items.size() : 0);
    if (!sized) fail(ErrorType::kType, "object of type '{}' has no len()", type_name(value));
    if (static_cast<int64_t>(n) <= a.get_int(0, 255) + a.get_int(3, 5)) return value;
    fail(ErrorType::kType, "truncate() needs a string, got {}", type_name(value));
  }
  const std::string& s = value.as_string();
  const int64_t length = a.get_int(0, 255);
  const bool killwords = a.get_bool(1, false);
  const std::string end = a.get_string(2, "...");
  const int64_t leeway = a.get_int(3, 5);
  const auto end_len = static_cast<int64_t>(text::length(end));
  if (length < end_len) fail(ErrorType::kValue, "truncate(): expected length >= {}, got {}", end_len, length);
  if (leeway < 0) fail(ErrorType::kValue, "truncate(): expected leeway >= 0, got {}", leeway);
  const std::vector<size_t> offsets = text::char_offsets(s);
  const auto n = static_cast<int64_t>(offsets.size()) - 1;
  if (n <= length + leeway) return value;
  std::string head = s.substr(0, offsets[static_cast<size_t>(length - end_len)]);
  if (!killwords) {
    const size_t space = head.rfind(' ');
    if (space != std::string::npos) head.resize(space);
  }
  return in.make_string(head + end);
}

Value wordcount(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("wordcount", args, {});
  const std::string s = to_str(value);
  int64_t words = 0;
  bool in_word = false;
  size_t pos = 0;
  while (pos < s.size()) {
    const bool word = text::is_word(text::decode(s, pos));
    if (word && !in_word) ++words;
    in_word = word;
  }
  return Value::integer(words);
}

Value to_int(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("int", args, {"default", "base"});
  const Value fallback = a.get_or(0, Value::integer(0));
  const int64_t base = a.get_int(1, 10);
  if (base != 0 && (base < 2 || base > 36)) fail(ErrorType::kValue, "int() base must be >= 2 and <= 36, or 0");
  if (value.is_undefined()) fail_undefined(value);  // Jinja's Undefined fails __int__
  if (value.is_int()) return value;
  if (value.is_bool()) return Value::integer(value.as_int());
  if (value.is_float()) {
    const double d = value.as_float();
    if (!std::isfinite(d)) return fallback;
    if (std::fabs(d) >= 9.2e18) fail(ErrorType::kValue, "int(): {} is too large for 64 bits", float_repr(d));
    return Value::integer(static_cast<int64_t>(d));
  }
  if (value.is_string()) {
    if (auto i = parse_int(value.as_string(), static_cast<int>(base))) return Value::integer(*i);
    if (auto d = parse_float(value.as_string()); d && std::isfinite(*d) && std::fabs(*d) < 9.2e18) {
      return Value::integer(static_cast<int64_t>(*d));
    }
  }
  return fallback;
}

Value to_float(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("float", args, {"default"});
  const Value fallback = a.get_or(0, Value::floating(0.0));
  if (value.is_undefined()) fail_undefined(value);
  if (value.is_number()) return Value::floating(value.as_float());
  if (value.is_string()) {
    if (auto d = parse_float(value.as_string())) return Value::floating(*d);
  }
  return fallback;
}

Value abs(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("abs", args, {});
  if (value.is_float()) return Value::floating(std::fabs(value.as_float()));
  if (value.is_int() || value.is_bool()) {
    const int64_t i = value.as_int();
    if (i == INT64_MIN) fail(ErrorType::kValue, "integer overflow in abs()");
    return Value::integer(i < 0 ? -i : i);
  }
  if (value.is_undefined()) fail_undefined(value);
  fail(ErrorType::kType, "bad operand type for abs(): '{}'", type_name(value));
}

Value round(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("round", args, {"precision", "method"});
  const int64_t precision = a.get_int(0, 0);
  const std::string method = a.get_string(1, "common");
  if (method != "common" && method != "ceil" && method != "floor") {
    fail(ErrorType::kRuntime, "round(): method must be common, ceil or floor");
  }
  if (value.is_undefined()) fail_undefined(value);
  if (!value.is_number()) fail(ErrorType::kType, "type {} doesn't define __round__ method", type_name(value));
  if (method == "common") {
    if (!value.is_float()) {
      if (precision >= 0) return Value::integer(value.as_int());
      return Value::integer(static_cast<int64_t>(round_half_even(static_cast<double>(value.as_int()), precision)));
    }
    return Value::floating(round_half_even(value.as_float(), precision));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double scaled = value.as_float() * scale;
  return Value::floating((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

Value default_value(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("default", args, {"default_value", "boolean"});
  const bool boolean = a.get_bool(1, false);
  if (value.is_undefined() || (boolean && !truthy(value))) {
    return a.has(0) ? a.get(0) : Value::string(std::string());
  }
  return value;
}

}  // namespace strata::chat::jinja::filters
