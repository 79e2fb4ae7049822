// Values of the template language (see jinja_value.h).
#include "chat/jinja_value.h"

#include <cmath>

#include "chat/jinja_error.h"
#include "chat/jinja_format.h"
#include "chat/jinja_text.h"

namespace strata::chat::jinja {

namespace {

constexpr size_t kIndexThreshold = 8;
thread_local uint64_t t_value_work = 0;

void check_depth(int depth) {
  if (depth > kMaxValueDepth) {
    fail(ErrorType::kLimit, "value nested deeper than {} levels (or containing itself)",
         kMaxValueDepth);
  }
}

void append_string_repr(std::string& out, std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  out.push_back(quote);
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t start = pos;
    const char32_t c = text::decode(s, pos);
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F || (pos - start == 1 && c >= 0x80) ||
               (c >= 0x80 && c <= 0xA0) || c == 0xAD) {
      out += fmt::format("\\x{:02x}", static_cast<uint32_t>(c));
    } else if ((c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F) ||
               (c >= 0x205F && c <= 0x2064) || c == 0x3000 || c == 0xFEFF) {
      out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
    } else {
      out.append(s.substr(start, pos - start));
    }
  }
  out.push_back(quote);
}

void append_items(std::string& out, const std::vector<Value>& items, int depth) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    append_repr(out, items[i], depth + 1);
  }
}

void append_dict_body(std::string& out, const DictObject& dict, int depth) {
  out.push_back('{');
  bool first = true;
  for (const auto& [key, value] : dict.entries()) {
    if (!first) out += ", ";
    first = false;
    append_repr(out, key, depth + 1);
    out += ": ";
    append_repr(out, value, depth + 1);
  }
  out.push_back('}');
}

int compare_numbers(const Value& a, const Value& b) {
  if (!a.is_float() && !b.is_float()) {
    const int64_t x = a.as_int();
    const int64_t y = b.as_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  const double x = a.as_float();
  const double y = b.as_float();
  if (x < y) return -1;
  if (x > y) return 1;
  return 0;  // equal, or unordered (NaN): Python's < and > are both false then
}

}  // namespace

// --- DictObject ---------------------------------------------------------------------------

size_t DictObject::size() const { return entries_.size(); }
bool DictObject::empty() const { return entries_.empty(); }

void DictObject::index_entry(size_t i) {
  const Value& key = entries_[i].first;
  if (key.is_string()) index_.emplace(std::string_view(key.as_string()), i);
}

size_t DictObject::position(std::string_view key) const {
  if (!index_.empty()) {
    auto it = index_.find(key);
    return it == index_.end() ? entries_.size() : it->second;
  }
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Value& k = entries_[i].first;
    if (k.is_string() && k.as_string() == key) return i;
  }
  return entries_.size();
}

size_t DictObject::position(const Value& key) const {
  if (key.is_string()) return position(std::string_view(key.as_string()));
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Value& k = entries_[i].first;
    if (!k.is_string() && equal(k, key)) return i;
  }
  return entries_.size();
}

const Value* DictObject::find(std::string_view key) const {
  const size_t i = position(key);
  return i < entries_.size() ? &entries_[i].second : nullptr;
}

const Value* DictObject::find(const Value& key) const {
  const size_t i = position(key);
  return i < entries_.size() ? &entries_[i].second : nullptr;
}

void DictObject::set(Value key, Value value) {
  if (const size_t i = position(key); i < entries_.size()) {
    entries_[i].second = std::move(value);
    return;
  }
  entries_.emplace_back(std::move(key), std::move(value));
  if (entries_.size() == kIndexThreshold) {
    for (size_t i = 0; i < entries_.size(); ++i) index_entry(i);
  } else if (entries_.size() > kIndexThreshold) {
    index_entry(entries_.size() - 1);
  }
}

void DictObject::clear() {
  index_.clear();
  entries_.clear();
}

// --- Value ----------------------------------------------------------------------------------

namespace {
enum UndefinedStyle : int64_t { kCustomMessage = 0, kMissingName = 1, kMissingAttribute = 2 };
}  // namespace

Value Value::undefined(std::string hint) {
  Value v;
  if (!hint.empty()) v.ptr_ = std::make_shared<std::string>(std::move(hint));
  return v;
}

Value Value::undefined(std::shared_ptr<const std::string> hint) {
  Value v;
  v.ptr_ = std::const_pointer_cast<std::string>(std::move(hint));
  return v;
}

Value Value::undefined_name(std::shared_ptr<const std::string> name) {
  Value v = undefined(std::move(name));
  v.scalar_.i = kMissingName;
  return v;
}

Value Value::undefined_attribute(const Value& object, std::shared_ptr<const std::string> name) {
  Value v = undefined(std::move(name));
  v.scalar_.i = kMissingAttribute | (static_cast<int64_t>(object.kind()) << 8);
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.scalar_.b = b;
  return v;
}

Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.scalar_.i = i;
  return v;
}

Value Value::floating(double d) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.scalar_.f = d;
  return v;
}

Value Value::string(std::string s) { return string(std::make_shared<const std::string>(std::move(s))); }

Value Value::string(std::shared_ptr<const std::string> s) {
  Value v;
  v.kind_ = Kind::kString;
  v.ptr_ = std::const_pointer_cast<std::string>(std::move(s));
  return v;
}

Value Value::list(std::shared_ptr<ListObject> list) {
  Value v;
  v.kind_ = Kind::kList;
  v.ptr_ = std::move(list);
  return v;
}

Value Value::tuple(std::shared_ptr<ListObject> list) {
  Value v;
  v.kind_ = Kind::kTuple;
  v.ptr_ = std::move(list);
  return v;
}

Value Value::dict(std::shared_ptr<DictObject> dict) {
  Value v;
  v.kind_ = Kind::kDict;
  v.ptr_ = std::move(dict);
  return v;
}

Value Value::name_space(std::shared_ptr<DictObject> dict) {
  Value v;
  v.kind_ = Kind::kNamespace;
  v.ptr_ = std::move(dict);
  return v;
}

Value Value::callable(std::shared_ptr<Callable> fn) {
  Value v;
  v.kind_ = Kind::kCallable;
  v.ptr_ = std::move(fn);
  return v;
}

Value Value::loop(std::shared_ptr<LoopState> loop) {
  Value v;
  v.kind_ = Kind::kLoop;
  v.ptr_ = std::move(loop);
  return v;
}

double Value::as_float() const {
  switch (kind_) {
    case Kind::kFloat: return scalar_.f;
    case Kind::kInt: return static_cast<double>(scalar_.i);
    case Kind::kBool: return scalar_.b ? 1.0 : 0.0;
    default: return 0.0;
  }
}

std::shared_ptr<const std::string> Value::string_ptr() const {
  return std::static_pointer_cast<const std::string>(ptr_);
}

std::string Value::undefined_message() const {
  if (ptr_ == nullptr) return "value is undefined";
  const std::string& text = *static_cast<const std::string*>(ptr_.get());
  switch (scalar_.i & 0xFF) {
    case kMissingName: return fmt::format("'{}' is undefined", text);
    case kMissingAttribute:
      return fmt::format("'{}' has no attribute '{}'", object_type_repr(static_cast<Kind>(scalar_.i >> 8)), text);
    default: return text;
  }
}

// --- Python semantics ----------------------------------------------------------------------

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return v.as_bool();
    case Kind::kInt: return v.as_int() != 0;
    case Kind::kFloat: return v.as_float() != 0.0;
    case Kind::kString: return !v.as_string().empty();
    case Kind::kList:
    case Kind::kTuple: return !v.as_list().items.empty();
    case Kind::kDict: return !v.as_dict().empty();
    default: return true;
  }
}

std::string_view type_name(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return "list";
    case Kind::kTuple: return "tuple";
    case Kind::kDict: return "dict";
    case Kind::kNamespace: return "Namespace";
    case Kind::kCallable: return "function";
    case Kind::kLoop: return "LoopContext";
  }
  return "object";
}

std::string object_type_repr(Kind kind) {
  switch (kind) {
    case Kind::kNone: return "None";
    case Kind::kNamespace: return "jinja2.utils.Namespace object";
    case Kind::kLoop: return "jinja2.runtime.LoopContext object";
    case Kind::kUndefined: return "jinja2.runtime.Undefined object";
    case Kind::kBool: return "bool object";
    case Kind::kInt: return "int object";
    case Kind::kFloat: return "float object";
    case Kind::kString: return "str object";
    case Kind::kList: return "list object";
    case Kind::kTuple: return "tuple object";
    case Kind::kDict: return "dict object";
    case Kind::kCallable: return "function object";
  }
  return "object";
}

std::string object_type_repr(const Value& v) { return object_type_repr(v.kind()); }

void fail_undefined(const Value& v) { throw Error(ErrorType::kUndefined, v.undefined_message()); }

uint64_t take_value_work() {
  const uint64_t work = t_value_work;
  t_value_work = 0;
  return work;
}

void append_str(std::string& out, const Value& v, int depth) {
  switch (v.kind()) {
    case Kind::kUndefined: return;
    case Kind::kString: out += v.as_string(); return;
    default: append_repr(out, v, depth);
  }
}

void append_repr(std::string& out, const Value& v, int depth) {
  check_depth(depth);
  ++t_value_work;
  switch (v.kind()) {
    case Kind::kUndefined: out += "Undefined"; return;
    case Kind::kNone: out += "None"; return;
    case Kind::kBool: out += v.as_bool() ? "True" : "False"; return;
    case Kind::kInt: out += fmt::format("{}", v.as_int()); return;
    case Kind::kFloat: out += float_repr(v.as_float()); return;
    case Kind::kString: append_string_repr(out, v.as_string()); return;
    case Kind::kList:
      out.push_back('[');
      append_items(out, v.as_list().items, depth);
      out.push_back(']');
      return;
    case Kind::kTuple:
      out.push_back('(');
      append_items(out, v.as_list().items, depth);
      if (v.as_list().items.size() == 1) out.push_back(',');
      out.push_back(')');
      return;
    case Kind::kDict: append_dict_body(out, v.as_dict(), depth); return;
    case Kind::kNamespace:
      out += "<Namespace ";
      append_dict_body(out, v.as_dict(), depth);
      out += ">";
      return;
    case Kind::kCallable: out += v.as_callable().repr(); return;
    case Kind::kLoop:
      out += fmt::format("<LoopContext {}/{}>", v.as_loop().index0 + 1, v.as_loop().items.size());
      return;
  }
}

std::string to_str(const Value& v) {
  if (v.is_string()) return v.as_string();
  std::string out;
  append_str(out, v);
  return out;
}

std::string to_repr(const Value& v) {
  std::string out;
  append_repr(out, v);
  return out;
}

bool equal(const Value& a, const Value& b, int depth) {
  check_depth(depth);
  ++t_value_work;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      // Exact int/float comparison as Python does it (a large int may not convert exactly).
      if (a.is_float() && b.is_float()) return a.as_float() == b.as_float();
      const double f = a.is_float() ? a.as_float() : b.as_float();
      const int64_t i = a.is_float() ? b.as_int() : a.as_int();
      if (std::isnan(f) || std::isinf(f) || f != std::floor(f)) return false;
      if (f < -9.2233720368547758e18 || f >= 9.2233720368547758e18) return false;
      return static_cast<int64_t>(f) == i;
    }
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return true;
    case Kind::kString: return a.as_string() == b.as_string();
    case Kind::kList:
    case Kind::kTuple: {
      const auto& x = a.as_list().items;
      const auto& y = b.as_list().items;
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equal(x[i], y[i], depth + 1)) return false;
      }
      return true;
    }
    case Kind::kDict: {
      const DictObject& x = a.as_dict();
      const DictObject& y = b.as_dict();
      if (x.size() != y.size()) return false;
      for (const auto& [key, value] : x.entries()) {
        const Value* other = y.find(key);
        if (other == nullptr || !equal(value, *other, depth + 1)) return false;
      }
      return true;
    }
    default: return a.identity() == b.identity();
  }
}

int compare(const Value& a, const Value& b, std::string_view op, int depth) {
  check_depth(depth);
  ++t_value_work;
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) return compare_numbers(a, b);
  if (a.is_string() && b.is_string()) {
    const int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.kind() == b.kind() && a.is_sequence()) {
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equal(x[i], y[i], depth + 1)) continue;
      return compare(x[i], y[i], op, depth + 1);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  fail(ErrorType::kType, "'{}' not supported between instances of '{}' and '{}'", op, type_name(a),
       type_name(b));
}

}  // namespace strata::chat::jinja
