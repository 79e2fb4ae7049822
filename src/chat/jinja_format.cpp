// Python number and string formatting (see jinja_format.h).
#include "chat/jinja_format.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/jinja_error.h"
#include "chat/jinja_text.h"

namespace strata::chat::jinja {

namespace {

// A parsed format spec: [[fill]align][sign][#][0][width][,|_][.precision][type].
struct Spec {
  std::string fill = " ";
  char align = 0;
  char sign = '-';
  bool alternate = false;
  bool zero = false;
  int width = -1;
  char grouping = 0;
  int precision = -1;
  char type = 0;
};

constexpr int kMaxWidth = 1 << 20;

int parse_count(std::string_view s, size_t& pos) {
  int n = 0;
  bool any = false;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    n = n * 10 + (s[pos] - '0');
    if (n > kMaxWidth) fail(ErrorType::kValue, "format width or precision too large (at most {})", kMaxWidth);
    ++pos;
    any = true;
  }
  return any ? n : -1;
}

Spec parse_spec(std::string_view s) {
  Spec spec;
  size_t pos = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  // A fill character may be any (possibly multi-byte) character followed by an alignment.
  if (!s.empty()) {
    size_t next = 0;
    text::decode(s, next);
    if (next < s.size() && is_align(s[next])) {
      spec.fill = std::string(s.substr(0, next));
      spec.align = s[next];
      pos = next + 1;
    } else if (is_align(s[0])) {
      spec.align = s[0];
      pos = 1;
    }
  }
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-' || s[pos] == ' ')) spec.sign = s[pos++];
  if (pos < s.size() && s[pos] == '#') {
    spec.alternate = true;
    ++pos;
  }
  if (pos < s.size() && s[pos] == '0') {
    spec.zero = true;
    ++pos;
  }
  spec.width = parse_count(s, pos);
  if (pos < s.size() && (s[pos] == ',' || s[pos] == '_')) spec.grouping = s[pos++];
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    spec.precision = parse_count(s, pos);
    if (spec.precision < 0) fail(ErrorType::kValue, "Format specifier missing precision");
  }
  if (pos < s.size()) spec.type = s[pos++];
  if (pos != s.size()) fail(ErrorType::kValue, "Invalid format specifier '{}'", s);
  return spec;
}

std::string pad(std::string body, const Spec& spec, char default_align) {
  if (spec.width < 0) return body;
  const size_t len = text::length(body);
  if (len >= static_cast<size_t>(spec.width)) return body;
  const size_t missing = spec.width - len;
  std::string fill = spec.fill;
  char align = spec.align != 0 ? spec.align : default_align;
  if (spec.zero && spec.align == 0 && default_align == '>') {
    fill = "0";
    align = '=';
  }
  auto repeat = [&](size_t n) {
    std::string r;
    for (size_t i = 0; i < n; ++i) r += fill;
    return r;
  };
  switch (align) {
    case '<': return body + repeat(missing);
    case '^': return repeat(missing / 2) + body + repeat(missing - missing / 2);
    case '=': {
      size_t sign_len = (!body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) ? 1 : 0;
      if (body.size() > sign_len + 1 && body[sign_len] == '0' &&
          (body[sign_len + 1] == 'x' || body[sign_len + 1] == 'X' || body[sign_len + 1] == 'o' ||
           body[sign_len + 1] == 'b'))
        sign_len += 2;
      return body.substr(0, sign_len) + repeat(missing) + body.substr(sign_len);
    }
    default: return repeat(missing) + body;
  }
}

std::string group_digits(const std::string& digits, char sep) {
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0) out.push_back(sep);
    out.push_back(digits[i]);
  }
  return out;
}

std::string with_sign(std::string body, bool negative, char sign) {
  if (negative) return "-" + body;
  if (sign == '+') return "+" + body;
  if (sign == ' ') return " " + body;
  return body;
}

std::string format_int(int64_t value, const Spec& spec) {
  const bool negative = value < 0;
  const uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  std::string digits;
  std::string prefix;
  switch (spec.type) {
    case 'x': digits = fmt::format("{:x}", magnitude); prefix = spec.alternate ? "0x" : ""; break;
    case 'X': digits = fmt::format("{:X}", magnitude); prefix = spec.alternate ? "0X" : ""; break;
    case 'o': digits = fmt::format("{:o}", magnitude); prefix = spec.alternate ? "0o" : ""; break;
    case 'b': digits = fmt::format("{:b}", magnitude); prefix = spec.alternate ? "0b" : ""; break;
    case 'c': {
      if (value < 0 || value > 0x10FFFF) fail(ErrorType::kValue, "%c arg not in range(0x110000)");
      std::string s;
      text::append_utf8(s, static_cast<char32_t>(value));
      return pad(s, spec, '<');
    }
    default:
      digits = fmt::format("{}", magnitude);
      if (spec.grouping != 0) digits = group_digits(digits, spec.grouping);
  }
  return pad(with_sign(prefix + digits, negative, spec.sign), spec, '>');
}

std::string format_float(double value, Spec spec) {
  char type = spec.type;
  if (type == 0 && spec.precision < 0) {
    std::string body = float_repr(std::fabs(value));
    if (std::isnan(value)) body = "nan";
    return pad(with_sign(body, std::signbit(value) && !std::isnan(value), spec.sign), spec, '>');
  }
  if (type == 0) type = 'g';
  if (type == 'n') type = 'g';
  double shown = value;
  std::string suffix;
  if (type == '%') {
    shown = value * 100.0;
    type = 'f';
    suffix = "%";
  }
  const int precision = spec.precision < 0 ? 6 : spec.precision;
  std::string conv = "%";
  if (spec.alternate) conv += "#";
  conv += ".*";
  conv.push_back(type);
  char buf[512];
  const int n = std::snprintf(buf, sizeof(buf), conv.c_str(), precision, std::fabs(shown));
  std::string body;
  if (n >= 0 && static_cast<size_t>(n) < sizeof(buf)) {
    body.assign(buf, n);
  } else {
    // Very large fixed-point output: fall back to exponent form rather than a huge buffer.
    const int m = std::snprintf(buf, sizeof(buf), "%.*e", std::min(precision, 100), std::fabs(shown));
    body.assign(buf, m > 0 ? m : 0);
  }
  if (spec.grouping != 0) {
    const size_t dot = body.find_first_not_of("0123456789");
    body = group_digits(body.substr(0, dot), spec.grouping) +
           (dot == std::string::npos ? "" : body.substr(dot));
  }
  body += suffix;
  return pad(with_sign(body, std::signbit(shown) && !std::isnan(shown), spec.sign), spec, '>');
}

int64_t checked_int(const Value& v, std::string_view what) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float()) {
    const double d = v.as_float();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) fail(ErrorType::kValue, "cannot convert float {} to integer", float_repr(d));
    return static_cast<int64_t>(d);
  }
  fail(ErrorType::kType, "{} format: a real number is required, not {}", what, type_name(v));
}

}  // namespace

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string_view s(buf, result.ptr - buf);
  bool negative = false;
  if (!s.empty() && s[0] == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  const size_t e = s.find('e');
  std::string digits;
  for (char c : s.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = 0;
  std::string_view exp_text = s.substr(e + 1);
  if (!exp_text.empty() && exp_text[0] == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exponent);
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent >= 0) {
      const size_t int_len = static_cast<size_t>(exponent) + 1;
      std::string int_part = digits.substr(0, std::min(int_len, digits.size()));
      while (int_part.size() < int_len) int_part.push_back('0');
      std::string frac = digits.size() > int_len ? digits.substr(int_len) : "0";
      out += int_part + "." + frac;
    } else {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out;
}

std::string format_with_spec(const Value& value, std::string_view spec_text) {
  if (spec_text.empty()) return to_str(value);
  Spec spec = parse_spec(spec_text);
  if (value.is_string()) {
    if (spec.type != 0 && spec.type != 's') {
      fail(ErrorType::kValue, "Unknown format code '{}' for object of type 'str'", spec.type);
    }
    std::string body = value.as_string();
    if (spec.precision >= 0 && text::length(body) > static_cast<size_t>(spec.precision)) {
      body = body.substr(0, text::char_offsets(body)[spec.precision]);
    }
    return pad(body, spec, '<');
  }
  if (value.is_int() || value.is_bool()) {
    if (spec.type == 0 || spec.type == 'd' || spec.type == 'x' || spec.type == 'X' ||
        spec.type == 'o' || spec.type == 'b' || spec.type == 'c' || spec.type == 'n') {
      if (value.is_bool() && spec.type == 0) return pad(to_str(value), spec, '<');
      return format_int(value.as_int(), spec);
    }
    return format_float(value.as_float(), spec);
  }
  if (value.is_float()) {
    if (spec.type == 'd' || spec.type == 'x' || spec.type == 'X' || spec.type == 'o' ||
        spec.type == 'b' || spec.type == 'c' || spec.type == 's') {
      fail(ErrorType::kValue, "Unknown format code '{}' for object of type 'float'", spec.type);
    }
    return format_float(value.as_float(), spec);
  }
  fail(ErrorType::kType, "unsupported format string passed to {}.__format__", type_name(value));
}

std::string percent_format(std::string_view format, const Value& args) {
  std::vector<Value> positional;
  const DictObject* mapping = nullptr;
  if (args.is_tuple()) {
    positional = args.as_list().items;
  } else if (args.is_dict()) {
    mapping = &args.as_dict();
    positional.push_back(args);
  } else {
    positional.push_back(args);
  }
  size_t next_arg = 0;
  bool used_mapping = false;
  auto take = [&]() -> const Value& {
    if (next_arg >= positional.size()) fail(ErrorType::kType, "not enough arguments for format string");
    return positional[next_arg++];
  };
  std::string out;
  size_t pos = 0;
  while (pos < format.size()) {
    const size_t pct = format.find('%', pos);
    if (pct == std::string_view::npos) {
      out.append(format.substr(pos));
      break;
    }
    out.append(format.substr(pos, pct - pos));
    pos = pct + 1;
    if (pos >= format.size()) fail(ErrorType::kValue, "incomplete format");
    const Value* mapped = nullptr;
    if (format[pos] == '(') {
      const size_t close = format.find(')', pos);
      if (close == std::string_view::npos) fail(ErrorType::kValue, "incomplete format key");
      if (mapping == nullptr) fail(ErrorType::kType, "format requires a mapping");
      const std::string key(format.substr(pos + 1, close - pos - 1));
      mapped = mapping->find(std::string_view(key));
      if (mapped == nullptr) fail(ErrorType::kIndex, "KeyError: '{}'", key);
      used_mapping = true;
      pos = close + 1;
    }
    Spec spec;
    spec.align = '>';
    bool left = false;
    while (pos < format.size() && std::string_view("-+ #0").find(format[pos]) != std::string_view::npos) {
      switch (format[pos]) {
        case '-': left = true; break;
        case '+': spec.sign = '+'; break;
        case ' ': if (spec.sign != '+') spec.sign = ' '; break;
        case '#': spec.alternate = true; break;
        case '0': spec.zero = true; break;
      }
      ++pos;
    }
    if (pos < format.size() && format[pos] == '*') {
      spec.width = static_cast<int>(std::min<int64_t>(checked_int(take(), "*"), kMaxWidth));
      ++pos;
    } else {
      spec.width = parse_count(format, pos);
    }
    if (pos < format.size() && format[pos] == '.') {
      ++pos;
      if (pos < format.size() && format[pos] == '*') {
        spec.precision = static_cast<int>(std::min<int64_t>(checked_int(take(), "*"), kMaxWidth));
        ++pos;
      } else {
        spec.precision = std::max(parse_count(format, pos), 0);
      }
    }
    while (pos < format.size() && (format[pos] == 'h' || format[pos] == 'l' || format[pos] == 'L')) ++pos;
    if (pos >= format.size()) fail(ErrorType::kValue, "incomplete format");
    const char conv = format[pos++];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    const Value& arg = mapped != nullptr ? *mapped : take();
    if (left) {
      spec.align = '<';
      spec.zero = false;
    } else if (spec.zero) {
      spec.align = 0;
    }
    std::string piece;
    switch (conv) {
      case 's':
      case 'r':
      case 'a': {
        std::string s = conv == 's' ? to_str(arg) : to_repr(arg);
        if (spec.precision >= 0 && text::length(s) > static_cast<size_t>(spec.precision)) {
          s = s.substr(0, text::char_offsets(s)[spec.precision]);
        }
        Spec string_spec = spec;
        string_spec.zero = false;
        if (string_spec.align == 0) string_spec.align = '>';
        piece = pad(s, string_spec, '>');
        break;
      }
      case 'd':
      case 'i':
      case 'u': {
        Spec int_spec = spec;
        int_spec.precision = -1;
        piece = format_int(checked_int(arg, "%d"), int_spec);
        break;
      }
      case 'x':
      case 'X':
      case 'o': {
        Spec int_spec = spec;
        int_spec.type = conv;
        piece = format_int(checked_int(arg, "%x"), int_spec);
        break;
      }
      case 'c': {
        Spec char_spec = spec;
        char_spec.zero = false;
        if (arg.is_string() && text::length(arg.as_string()) == 1) {
          piece = pad(arg.as_string(), char_spec, '>');
        } else {
          char_spec.type = 'c';
          if (char_spec.align == 0) char_spec.align = '>';
          piece = format_int(checked_int(arg, "%c"), char_spec);
        }
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!arg.is_number()) {
          fail(ErrorType::kType, "must be real number, not {}", type_name(arg));
        }
        Spec float_spec = spec;
        float_spec.type = conv;
        if (float_spec.precision < 0) float_spec.precision = 6;
        piece = format_float(arg.as_float(), float_spec);
        break;
      }
      default:
        fail(ErrorType::kValue, "unsupported format character '{}' (0x{:x})", conv,
             static_cast<unsigned>(static_cast<unsigned char>(conv)));
    }
    out += piece;
  }
  if (!used_mapping && mapping == nullptr && next_arg < positional.size()) {
    fail(ErrorType::kType, "not all arguments converted during string formatting");
  }
  return out;
}

std::string brace_format(std::string_view format, const CallArgs& args) {
  std::string out;
  size_t pos = 0;
  size_t auto_index = 0;
  while (pos < format.size()) {
    const char c = format[pos];
    if (c == '}') {
      if (pos + 1 < format.size() && format[pos + 1] == '}') {
        out.push_back('}');
        pos += 2;
        continue;
      }
      fail(ErrorType::kValue, "Single '}}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      ++pos;
      continue;
    }
    if (pos + 1 < format.size() && format[pos + 1] == '{') {
      out.push_back('{');
      pos += 2;
      continue;
    }
    const size_t close = format.find('}', pos);
    if (close == std::string_view::npos) fail(ErrorType::kValue, "Single '{{' encountered in format string");
    std::string_view field = format.substr(pos + 1, close - pos - 1);
    pos = close + 1;
    std::string_view spec;
    char conversion = 0;
    if (const size_t colon = field.find(':'); colon != std::string_view::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (const size_t bang = field.find('!'); bang != std::string_view::npos) {
      if (bang + 2 != field.size()) fail(ErrorType::kValue, "expected ':' after conversion specifier");
      conversion = field[bang + 1];
      field = field.substr(0, bang);
    }
    const Value* value = nullptr;
    if (field.empty()) {
      if (auto_index >= args.positional.size()) {
        fail(ErrorType::kIndex, "Replacement index {} out of range for positional args tuple", auto_index);
      }
      value = &args.positional[auto_index++];
    } else if (field[0] >= '0' && field[0] <= '9') {
      size_t index = 0;
      auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), index);
      if (ec != std::errc() || ptr != field.data() + field.size()) {
        fail(ErrorType::kValue, "unsupported format field '{}'", field);
      }
      if (index >= args.positional.size()) {
        fail(ErrorType::kIndex, "Replacement index {} out of range for positional args tuple", index);
      }
      value = &args.positional[index];
    } else {
      for (const auto& [name, v] : args.keyword) {
        if (name == field) value = &v;
      }
      if (value == nullptr) fail(ErrorType::kIndex, "KeyError: '{}'", field);
    }
    if (conversion == 'r' || conversion == 'a') {
      out += format_with_spec(Value::string(to_repr(*value)), spec);
    } else if (conversion == 's' || conversion == 0) {
      out += conversion == 's' ? format_with_spec(Value::string(to_str(*value)), spec)
                               : format_with_spec(*value, spec);
    } else {
      fail(ErrorType::kValue, "Unknown conversion specifier {}", conversion);
    }
  }
  return out;
}

}  // namespace strata::chat::jinja
