// Methods of str, list, tuple and dict values, and the attributes of `loop`, with Python's
// semantics and error messages.
#include <algorithm>

#include "chat/jinja_args.h"
#include "chat/jinja_builtins.h"
#include "chat/jinja_error.h"
#include "chat/jinja_format.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_text.h"

namespace strata::chat::jinja {

namespace {

constexpr std::string_view kStringMethods[] = {
    "capitalize", "casefold", "center", "count", "endswith", "find", "format", "index",
    "isalnum", "isalpha", "isdigit", "islower", "isspace", "isupper", "join", "ljust",
    "lower", "lstrip", "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex",
    "rjust", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
    "swapcase", "title", "upper", "zfill",
};
constexpr std::string_view kListMethods[] = {"append", "copy", "count", "extend", "index", "insert", "pop", "reverse"};
constexpr std::string_view kTupleMethods[] = {"count", "index"};
constexpr std::string_view kDictMethods[] = {"copy", "get", "items", "keys", "values"};
constexpr std::string_view kLoopMethods[] = {"changed", "cycle"};

void expect_no_args(std::string_view name, const CallArgs& args) { BoundArgs check(name, args, {}); }

template <size_t N>
bool contains_name(const std::string_view (&names)[N], std::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

class BoundMethod : public Callable {
 public:
  BoundMethod(Value object, std::string name) : object_(std::move(object)), name_(std::move(name)) {}
  Value call(Interpreter& in, CallArgs& args) override { return call_method(in, object_, name_, args); }
  std::string repr() const override {
    return fmt::format("<built-in method {} of {} object>", name_, type_name(object_));
  }

 private:
  Value object_;
  std::string name_;
};

// Character index <-> byte offset helpers for find/startswith on non-ASCII text.
size_t char_index_of(std::string_view s, size_t byte_offset) { return text::length(s.substr(0, byte_offset)); }

// Python slice bounds (start, end) in characters -> byte range.
std::pair<size_t, size_t> byte_range(std::string_view s, const BoundArgs& a, size_t start_slot) {
  const std::vector<size_t> offsets = text::char_offsets(s);
  const auto n = static_cast<int64_t>(offsets.size()) - 1;
  auto clamp = [&](size_t slot, int64_t fallback) {
    if (!a.has(slot) || a.get(slot).is_none()) return fallback;
    int64_t i = a.get_int(slot, fallback);
    if (i < 0) i = std::max<int64_t>(0, i + n);
    return std::min(i, n);
  };
  const int64_t b = clamp(start_slot, 0);
  const int64_t e = clamp(start_slot + 1, n);
  if (b > e) return {offsets[b], offsets[b]};
  return {offsets[b], offsets[e]};
}

std::vector<std::string> affixes(const Value& v, std::string_view method) {
  if (v.is_string()) return {v.as_string()};
  if (v.is_tuple()) {
    std::vector<std::string> out;
    for (const Value& item : v.as_list().items) {
      if (!item.is_string()) {
        fail(ErrorType::kType, "tuple for {} must only contain str, not {}", method, type_name(item));
      }
      out.push_back(item.as_string());
    }
    return out;
  }
  fail(ErrorType::kType, "{} first arg must be str or a tuple of str, not {}", method, type_name(v));
}

Value string_list(Interpreter& in, std::vector<std::string> parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& p : parts) items.push_back(Value::string(std::move(p)));
  return in.make_list(std::move(items));
}

std::string pad_to(Interpreter& in, const std::string& s, int64_t width, const std::string& fill, char align) {
  const auto len = static_cast<int64_t>(text::length(s));
  if (width <= len) return s;
  if (static_cast<uint64_t>(width) > in.limits().max_output_bytes) {
    fail(ErrorType::kLimit, "padding to width {} exceeds the {} byte limit", width, in.limits().max_output_bytes);
  }
  const int64_t margin = width - len;
  int64_t left = 0;
  if (align == '>') left = margin;
  if (align == '^') left = margin / 2 + (margin & width & 1);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = left; i < margin; ++i) out += fill;
  return out;
}

std::string fill_char(const BoundArgs& a, size_t slot, std::string_view method) {
  if (!a.has(slot)) return " ";
  const Value& v = a.get(slot);
  if (!v.is_string() || text::length(v.as_string()) != 1) {
    fail(ErrorType::kType, "{}() argument 2 must be a single character", method);
  }
  return v.as_string();
}

Value string_method(Interpreter& in, const std::string& s, std::string_view name, CallArgs& args) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    BoundArgs a(name, args, {"chars"});
    const bool left = name != "rstrip";
    const bool right = name != "lstrip";
    if (a.has(0) && !a.get(0).is_none()) {
      const std::string chars = to_str(a.get(0));
      return in.make_string(std::string(text::strip(s, &chars, left, right)));
    }
    return in.make_string(std::string(text::strip(s, nullptr, left, right)));
  }
  if (name == "split" || name == "rsplit") {
    BoundArgs a(name, args, {"sep", "maxsplit"});
    const int64_t maxsplit = a.get_int(1, -1);
    if (a.has(0) && !a.get(0).is_none()) {
      if (!a.get(0).is_string()) fail(ErrorType::kType, "must be str or None, not {}", type_name(a.get(0)));
      const std::string& sep = a.get(0).as_string();
      if (sep.empty()) fail(ErrorType::kValue, "empty separator");
      return string_list(in, name == "split" ? text::split(s, &sep, maxsplit) : text::rsplit(s, &sep, maxsplit));
    }
    return string_list(in, name == "split" ? text::split(s, nullptr, maxsplit) : text::rsplit(s, nullptr, maxsplit));
  }
  if (name == "splitlines") {
    BoundArgs a(name, args, {"keepends"});
    return string_list(in, text::splitlines(s, a.get_bool(0, false)));
  }
  if (name == "startswith" || name == "endswith") {
    BoundArgs a(name, args, {"prefix", "start", "end"});
    const auto [b, e] = byte_range(s, a, 1);
    const std::string_view window = std::string_view(s).substr(b, e - b);
    for (const std::string& affix : affixes(a.get(0), name)) {
      if (name == "startswith" ? window.substr(0, affix.size()) == affix
                               : (window.size() >= affix.size() && window.substr(window.size() - affix.size()) == affix)) {
        return Value::boolean(true);
      }
    }
    return Value::boolean(false);
  }
  if (name == "replace") {
    BoundArgs a(name, args, {"old", "new", "count"});
    if (!a.get(0).is_string() || !a.get(1).is_string()) {
      fail(ErrorType::kType, "replace() arguments must be str");
    }
    const std::string& from = a.get(0).as_string();
    const std::string& to = a.get(1).as_string();
    const size_t hits = from.empty() ? text::length(s) + 1 : text::count(s, from);
    if (to.size() > from.size() && hits > 0 &&
        (to.size() - from.size()) > in.limits().max_output_bytes / hits) {
      fail(ErrorType::kLimit, "replace(): the result would exceed {} bytes", in.limits().max_output_bytes);
    }
    return in.make_string(text::replace(s, from, to, a.get_int(2, -1)));
  }
  if (name == "upper") {
    expect_no_args(name, args);
    return in.make_string(text::upper(s));
  }
  if (name == "lower" || name == "casefold") {
    expect_no_args(name, args);
    return in.make_string(text::lower(s));
  }
  if (name == "title") {
    expect_no_args(name, args);
    return in.make_string(text::title(s));
  }
  if (name == "capitalize") {
    expect_no_args(name, args);
    return in.make_string(text::capitalize(s));
  }
  if (name == "swapcase") {
    expect_no_args(name, args);
    return in.make_string(text::swapcase(s));
  }
  if (name == "format") return in.make_string(brace_format(s, args));
  if (name == "join") {
    BoundArgs a(name, args, {"iterable"});
    std::string out;
    size_t index = 0;
    for (const Value& item : in.iterate(a.get(0))) {
      if (!item.is_string()) {
        fail(ErrorType::kType, "sequence item {}: expected str instance, {} found", index, type_name(item));
      }
      if (index > 0) out += s;
      out += item.as_string();
      ++index;
      if (out.size() > in.limits().max_output_bytes) in.make_string(std::move(out));  // reports the limit
    }
    return in.make_string(std::move(out));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    BoundArgs a(name, args, {"sub", "start", "end"});
    if (!a.get(0).is_string()) fail(ErrorType::kType, "must be str, not {}", type_name(a.get(0)));
    const auto [b, e] = byte_range(s, a, 1);
    const std::string_view window = std::string_view(s).substr(b, e - b);
    const bool reverse = name[0] == 'r';
    const size_t hit = reverse ? window.rfind(a.get(0).as_string()) : window.find(a.get(0).as_string());
    if (hit == std::string_view::npos) {
      if (name == "index" || name == "rindex") fail(ErrorType::kValue, "substring not found");
      return Value::integer(-1);
    }
    return Value::integer(static_cast<int64_t>(char_index_of(s, b + hit)));
  }
  if (name == "count") {
    BoundArgs a(name, args, {"sub"});
    if (!a.get(0).is_string()) fail(ErrorType::kType, "must be str, not {}", type_name(a.get(0)));
    return Value::integer(static_cast<int64_t>(text::count(s, a.get(0).as_string())));
  }
  if (name == "isalnum" || name == "isalpha" || name == "isdigit" || name == "isspace") {
    BoundArgs a(name, args, {});
    if (s.empty()) return Value::boolean(false);
    size_t pos = 0;
    while (pos < s.size()) {
      const char32_t c = text::decode(s, pos);
      bool ok = false;
      if (name == "isalnum") ok = text::is_alpha(c) || text::is_digit(c);
      if (name == "isalpha") ok = text::is_alpha(c);
      if (name == "isdigit") ok = text::is_digit(c);
      if (name == "isspace") ok = text::is_space(c);
      if (!ok) return Value::boolean(false);
    }
    return Value::boolean(true);
  }
  if (name == "islower") {
    expect_no_args(name, args);
    return Value::boolean(text::is_lower(s));
  }
  if (name == "isupper") {
    expect_no_args(name, args);
    return Value::boolean(text::is_upper(s));
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    BoundArgs a(name, args, {"width", "fillchar"});
    const char align = name == "center" ? '^' : (name == "ljust" ? '<' : '>');
    return in.make_string(pad_to(in, s, a.get_int(0, 0), fill_char(a, 1, name), align));
  }
  if (name == "zfill") {
    BoundArgs a(name, args, {"width"});
    const int64_t width = a.get_int(0, 0);
    const bool sign = !s.empty() && (s[0] == '-' || s[0] == '+');
    std::string body = pad_to(in, sign ? s.substr(1) : s, width - (sign ? 1 : 0), "0", '>');
    return in.make_string(sign ? s.substr(0, 1) + body : body);
  }
  if (name == "partition" || name == "rpartition") {
    BoundArgs a(name, args, {"sep"});
    if (!a.get(0).is_string()) fail(ErrorType::kType, "must be str, not {}", type_name(a.get(0)));
    const std::string& sep = a.get(0).as_string();
    if (sep.empty()) fail(ErrorType::kValue, "empty separator");
    const size_t hit = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (hit == std::string::npos) {
      if (name == "partition") return in.make_tuple({Value::string(s), Value::string(""), Value::string("")});
      return in.make_tuple({Value::string(""), Value::string(""), Value::string(s)});
    }
    return in.make_tuple({Value::string(s.substr(0, hit)), Value::string(sep), Value::string(s.substr(hit + sep.size()))});
  }
  if (name == "removeprefix" || name == "removesuffix") {
    BoundArgs a(name, args, {"affix"});
    if (!a.get(0).is_string()) fail(ErrorType::kType, "must be str, not {}", type_name(a.get(0)));
    const std::string& affix = a.get(0).as_string();
    if (name == "removeprefix") {
      if (s.compare(0, affix.size(), affix) == 0) return in.make_string(s.substr(affix.size()));
    } else if (s.size() >= affix.size() && s.compare(s.size() - affix.size(), affix.size(), affix) == 0) {
      return in.make_string(s.substr(0, s.size() - affix.size()));
    }
    return Value::string(s);
  }
  fail(ErrorType::kType, "'str' object has no method '{}'", name);
}

int64_t list_index(const std::vector<Value>& items, const Value& needle) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (equal(items[i], needle)) return static_cast<int64_t>(i);
  }
  return -1;
}

Value list_method(Interpreter& in, const Value& object, std::string_view name, CallArgs& args) {
  std::vector<Value>& items = object.as_list().items;
  if (name == "count") {
    BoundArgs a(name, args, {"value"});
    in.charge(items.size());
    int64_t n = 0;
    for (const Value& v : items) n += equal(v, a.get(0)) ? 1 : 0;
    return Value::integer(n);
  }
  if (name == "index") {
    BoundArgs a(name, args, {"value"});
    in.charge(items.size());
    const int64_t i = list_index(items, a.get(0));
    if (i < 0) fail(ErrorType::kValue, "{} is not in {}", to_repr(a.get(0)), type_name(object));
    return Value::integer(i);
  }
  if (object.is_tuple()) fail(ErrorType::kType, "'tuple' object has no method '{}'", name);
  if (name == "append") {
    BoundArgs a(name, args, {"object"});
    in.charge(1);
    items.push_back(a.get(0));
    return Value::none();
  }
  if (name == "extend") {
    BoundArgs a(name, args, {"iterable"});
    std::vector<Value> more = in.iterate(a.get(0));
    items.insert(items.end(), more.begin(), more.end());
    return Value::none();
  }
  if (name == "insert") {
    BoundArgs a(name, args, {"index", "object"});
    int64_t i = a.get_int(0, 0);
    const auto n = static_cast<int64_t>(items.size());
    if (i < 0) i = std::max<int64_t>(0, i + n);
    i = std::min(i, n);
    in.charge(items.size());
    items.insert(items.begin() + i, a.get(1));
    return Value::none();
  }
  if (name == "pop") {
    BoundArgs a(name, args, {"index"});
    if (items.empty()) fail(ErrorType::kIndex, "pop from empty list");
    int64_t i = a.get_int(0, -1);
    const auto n = static_cast<int64_t>(items.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) fail(ErrorType::kIndex, "pop index out of range");
    Value v = items[static_cast<size_t>(i)];
    in.charge(items.size());
    items.erase(items.begin() + i);
    return v;
  }
  if (name == "copy") {
    expect_no_args(name, args);
    return in.make_list(items);
  }
  if (name == "reverse") {
    BoundArgs a(name, args, {});
    std::reverse(items.begin(), items.end());
    return Value::none();
  }
  fail(ErrorType::kType, "'list' object has no method '{}'", name);
}

Value dict_method(Interpreter& in, const Value& object, std::string_view name, CallArgs& args) {
  const DictObject& dict = object.as_dict();
  if (name == "get") {
    BoundArgs a(name, args, {"key", "default"});
    if (const Value* v = dict.find(a.get(0))) return *v;
    return a.get_or(1, Value::none());
  }
  BoundArgs a(name, args, {});
  std::vector<Value> out;
  out.reserve(dict.size());
  if (name == "copy") {
    Value copy = in.make_dict();
    for (const auto& [k, v] : dict.entries()) copy.as_dict().set(k, v);
    in.charge(dict.size());
    return copy;
  }
  for (const auto& [k, v] : dict.entries()) {
    if (name == "keys") {
      out.push_back(k);
    } else if (name == "values") {
      out.push_back(v);
    } else {
      out.push_back(in.make_tuple({k, v}));
    }
  }
  return in.make_list(std::move(out));
}

Value loop_method(Interpreter& in, const Value& object, std::string_view name, CallArgs& args) {
  LoopState& loop = object.as_loop();
  if (!args.keyword.empty()) fail(ErrorType::kType, "loop.{}() takes no keyword arguments", name);
  if (name == "cycle") {
    if (args.positional.empty()) fail(ErrorType::kType, "no items for cycling given");
    return args.positional[loop.index0 % args.positional.size()];
  }
  // changed(*values): true on the first call and whenever the values differ from the last.
  const bool differs = !loop.has_changed || loop.last_changed.size() != args.positional.size() ||
                       !std::equal(loop.last_changed.begin(), loop.last_changed.end(), args.positional.begin(),
                                   [](const Value& x, const Value& y) { return equal(x, y); });
  loop.has_changed = true;
  loop.last_changed = args.positional;
  return Value::boolean(differs);
}

}  // namespace

bool has_method(const Value& object, std::string_view name) {
  switch (object.kind()) {
    case Kind::kString: return contains_name(kStringMethods, name);
    case Kind::kList: return contains_name(kListMethods, name);
    case Kind::kTuple: return contains_name(kTupleMethods, name);
    case Kind::kDict: return contains_name(kDictMethods, name);
    case Kind::kLoop: return contains_name(kLoopMethods, name);
    default: return false;
  }
}

Value bound_method(const Value& object, std::string_view name) {
  return Value::callable(std::make_shared<BoundMethod>(object, std::string(name)));
}

Value call_method(Interpreter& in, const Value& object, std::string_view name, CallArgs& args) {
  switch (object.kind()) {
    case Kind::kString: return string_method(in, object.as_string(), name, args);
    case Kind::kList:
    case Kind::kTuple: return list_method(in, object, name, args);
    case Kind::kDict: return dict_method(in, object, name, args);
    case Kind::kLoop: return loop_method(in, object, name, args);
    default: break;
  }
  fail(ErrorType::kType, "'{}' object has no method '{}'", type_name(object), name);
}

Value loop_attribute(Interpreter& in, const Value& loop_value, std::string_view name) {
  const LoopState& loop = loop_value.as_loop();
  const auto i = static_cast<int64_t>(loop.index0);
  const auto n = static_cast<int64_t>(loop.items.size());
  if (name == "index") return Value::integer(i + 1);
  if (name == "index0") return Value::integer(i);
  if (name == "revindex") return Value::integer(n - i);
  if (name == "revindex0") return Value::integer(n - i - 1);
  if (name == "first") return Value::boolean(i == 0);
  if (name == "last") return Value::boolean(i == n - 1);
  if (name == "length") return Value::integer(n);
  if (name == "depth") return Value::integer(1);
  if (name == "depth0") return Value::integer(0);
  if (name == "previtem") {
    static const auto kNoPrevious = std::make_shared<const std::string>("there is no previous item");
    if (i == 0) return Value::undefined(kNoPrevious);
    return loop.items[static_cast<size_t>(i - 1)];
  }
  if (name == "nextitem") {
    static const auto kNoNext = std::make_shared<const std::string>("there is no next item");
    if (i + 1 >= n) return Value::undefined(kNoNext);
    return loop.items[static_cast<size_t>(i + 1)];
  }
  if (name == "cycle" || name == "changed") return bound_method(loop_value, name);
  (void)in;
  return Value::undefined(fmt::format("'{}' has no attribute '{}'", object_type_repr(loop_value), name));
}

}  // namespace strata::chat::jinja
