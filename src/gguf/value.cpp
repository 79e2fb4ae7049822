// GGUF metadata values: factories, converting getters and the short display form.
#include "gguf/value.h"

#include <fmt/format.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

namespace strata::gguf {
namespace {

bool is_signed_int(ValueType t) {
  return t == ValueType::kInt8 || t == ValueType::kInt16 || t == ValueType::kInt32 ||
         t == ValueType::kInt64;
}
bool is_unsigned_int(ValueType t) {
  return t == ValueType::kUint8 || t == ValueType::kUint16 || t == ValueType::kUint32 ||
         t == ValueType::kUint64;
}
bool is_float(ValueType t) { return t == ValueType::kFloat32 || t == ValueType::kFloat64; }

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// One element of a numeric array as a scalar Value.
Value numeric_element(ValueType type, const uint8_t* p) {
  switch (type) {
    case ValueType::kUint8: return Value::from_u8(load<uint8_t>(p));
    case ValueType::kInt8: return Value::from_i8(load<int8_t>(p));
    case ValueType::kUint16: return Value::from_u16(load<uint16_t>(p));
    case ValueType::kInt16: return Value::from_i16(load<int16_t>(p));
    case ValueType::kUint32: return Value::from_u32(load<uint32_t>(p));
    case ValueType::kInt32: return Value::from_i32(load<int32_t>(p));
    case ValueType::kFloat32: return Value::from_f32(load<float>(p));
    case ValueType::kBool: return Value::from_bool(load<uint8_t>(p) != 0);
    case ValueType::kUint64: return Value::from_u64(load<uint64_t>(p));
    case ValueType::kInt64: return Value::from_i64(load<int64_t>(p));
    case ValueType::kFloat64: return Value::from_f64(load<double>(p));
    case ValueType::kString:
    case ValueType::kArray: break;
  }
  return Value::from_u8(load<uint8_t>(p));
}

template <typename T>
std::vector<uint8_t> to_bytes(const std::vector<T>& values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  if (!bytes.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

// Quoted, one line, control bytes escaped, cut at a UTF-8 boundary after max_bytes.
std::string display_string(const std::string& s, size_t max_bytes) {
  size_t cut = s.size();
  if (cut > max_bytes) {
    cut = max_bytes;
    while (cut > 0 && (static_cast<uint8_t>(s[cut]) & 0xC0) == 0x80) --cut;
  }
  std::string out = "\"";
  for (size_t i = 0; i < cut; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  if (cut < s.size()) out += fmt::format("... ({} bytes)", s.size());
  return out;
}

constexpr size_t kDisplayStringBytes = 96;

}  // namespace

std::string_view value_type_name(ValueType type) {
  switch (type) {
    case ValueType::kUint8: return "u8";
    case ValueType::kInt8: return "i8";
    case ValueType::kUint16: return "u16";
    case ValueType::kInt16: return "i16";
    case ValueType::kUint32: return "u32";
    case ValueType::kInt32: return "i32";
    case ValueType::kFloat32: return "f32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "u64";
    case ValueType::kInt64: return "i64";
    case ValueType::kFloat64: return "f64";
  }
  return "unknown";
}

uint32_t value_type_size(ValueType type) {
  switch (type) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool: return 1;
    case ValueType::kUint16:
    case ValueType::kInt16: return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32: return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64: return 8;
    case ValueType::kString:
    case ValueType::kArray: return 0;
  }
  return 0;
}

bool is_known_value_type(uint32_t id) { return id <= static_cast<uint32_t>(ValueType::kFloat64); }

#define STRATA_SCALAR_FACTORY(fn, ctype, vtype, stored) \
  Value Value::fn(ctype v) {                            \
    Value out;                                          \
    out.type_ = vtype;                                  \
    out.data_ = static_cast<stored>(v);                 \
    return out;                                         \
  }
STRATA_SCALAR_FACTORY(from_u8, uint8_t, ValueType::kUint8, uint64_t)
STRATA_SCALAR_FACTORY(from_i8, int8_t, ValueType::kInt8, int64_t)
STRATA_SCALAR_FACTORY(from_u16, uint16_t, ValueType::kUint16, uint64_t)
STRATA_SCALAR_FACTORY(from_i16, int16_t, ValueType::kInt16, int64_t)
STRATA_SCALAR_FACTORY(from_u32, uint32_t, ValueType::kUint32, uint64_t)
STRATA_SCALAR_FACTORY(from_i32, int32_t, ValueType::kInt32, int64_t)
STRATA_SCALAR_FACTORY(from_u64, uint64_t, ValueType::kUint64, uint64_t)
STRATA_SCALAR_FACTORY(from_i64, int64_t, ValueType::kInt64, int64_t)
STRATA_SCALAR_FACTORY(from_f32, float, ValueType::kFloat32, double)
STRATA_SCALAR_FACTORY(from_f64, double, ValueType::kFloat64, double)
STRATA_SCALAR_FACTORY(from_bool, bool, ValueType::kBool, bool)
#undef STRATA_SCALAR_FACTORY

Value Value::from_string(std::string v) {
  Value out;
  out.type_ = ValueType::kString;
  out.data_ = std::move(v);
  return out;
}

Value Value::from_numeric_array(ValueType element_type, std::vector<uint8_t> bytes) {
  if (value_type_size(element_type) == 0) element_type = ValueType::kUint8;
  const size_t size = value_type_size(element_type);
  bytes.resize(bytes.size() / size * size);
  Value out;
  out.type_ = ValueType::kArray;
  out.array_type_ = element_type;
  out.data_ = std::move(bytes);
  return out;
}

Value Value::from_f32_array(const std::vector<float>& values) {
  return from_numeric_array(ValueType::kFloat32, to_bytes(values));
}

Value Value::from_i32_array(const std::vector<int32_t>& values) {
  return from_numeric_array(ValueType::kInt32, to_bytes(values));
}

Value Value::from_string_array(std::vector<std::string> values) {
  Value out;
  out.type_ = ValueType::kArray;
  out.array_type_ = ValueType::kString;
  out.data_ = std::move(values);
  return out;
}

Value Value::from_array_of_arrays(std::vector<Value> values) {
  Value out;
  out.type_ = ValueType::kArray;
  out.array_type_ = ValueType::kArray;
  out.data_ = std::move(values);
  return out;
}

std::optional<uint64_t> Value::as_uint() const {
  if (const auto* u = std::get_if<uint64_t>(&data_); u && is_unsigned_int(type_)) return *u;
  if (const auto* i = std::get_if<int64_t>(&data_); i && is_signed_int(type_) && *i >= 0) {
    return static_cast<uint64_t>(*i);
  }
  return std::nullopt;
}

std::optional<int64_t> Value::as_int() const {
  if (const auto* i = std::get_if<int64_t>(&data_); i && is_signed_int(type_)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&data_);
      u && is_unsigned_int(type_) &&
      *u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(*u);
  }
  return std::nullopt;
}

std::optional<double> Value::as_number() const {
  if (const auto* u = std::get_if<uint64_t>(&data_); u && is_unsigned_int(type_)) {
    return static_cast<double>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&data_); i && is_signed_int(type_)) {
    return static_cast<double>(*i);
  }
  if (const auto* d = std::get_if<double>(&data_); d && is_float(type_)) return *d;
  return std::nullopt;
}

std::optional<bool> Value::as_bool() const {
  if (const auto* b = std::get_if<bool>(&data_); b && type_ == ValueType::kBool) return *b;
  return std::nullopt;
}

const std::string* Value::as_string() const {
  return type_ == ValueType::kString ? std::get_if<std::string>(&data_) : nullptr;
}

size_t Value::array_size() const {
  if (!is_array()) return 0;
  if (const auto* b = std::get_if<std::vector<uint8_t>>(&data_)) {
    const uint32_t size = value_type_size(array_type_);
    return size == 0 ? 0 : b->size() / size;
  }
  if (const auto* s = std::get_if<std::vector<std::string>>(&data_)) return s->size();
  if (const auto* a = std::get_if<std::vector<Value>>(&data_)) return a->size();
  return 0;
}

const std::vector<uint8_t>* Value::numeric_bytes() const {
  return is_array() ? std::get_if<std::vector<uint8_t>>(&data_) : nullptr;
}

const std::vector<std::string>* Value::strings() const {
  return is_array() ? std::get_if<std::vector<std::string>>(&data_) : nullptr;
}

const std::vector<Value>* Value::arrays() const {
  return is_array() ? std::get_if<std::vector<Value>>(&data_) : nullptr;
}

std::optional<std::vector<float>> Value::to_f32_vector() const {
  const auto* bytes = numeric_bytes();
  if (bytes == nullptr || array_type_ == ValueType::kBool) return std::nullopt;
  const size_t n = array_size();
  std::vector<float> out(n);
  if (array_type_ == ValueType::kFloat32) {
    if (n > 0) std::memcpy(out.data(), bytes->data(), n * sizeof(float));
    return out;
  }
  const size_t size = value_type_size(array_type_);
  for (size_t i = 0; i < n; ++i) {
    const Value v = numeric_element(array_type_, bytes->data() + i * size);
    const double d = *v.as_number();
    if (std::isfinite(d) && std::fabs(d) > static_cast<double>(FLT_MAX)) return std::nullopt;
    out[i] = static_cast<float>(d);
  }
  return out;
}

std::optional<std::vector<int64_t>> Value::to_i64_vector() const {
  const auto* bytes = numeric_bytes();
  if (bytes == nullptr || !(is_signed_int(array_type_) || is_unsigned_int(array_type_))) {
    return std::nullopt;
  }
  const size_t n = array_size();
  const size_t size = value_type_size(array_type_);
  std::vector<int64_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    const auto v = numeric_element(array_type_, bytes->data() + i * size).as_int();
    if (!v) return std::nullopt;
    out[i] = *v;
  }
  return out;
}

std::optional<Value> Value::element(size_t index) const {
  if (index >= array_size()) return std::nullopt;
  if (const auto* b = numeric_bytes()) {
    return numeric_element(array_type_, b->data() + index * value_type_size(array_type_));
  }
  if (const auto* s = strings()) return from_string((*s)[index]);
  if (const auto* a = arrays()) return (*a)[index];
  return std::nullopt;
}

std::string Value::to_display(size_t max_items) const {
  if (!is_array()) {
    if (const auto* s = as_string()) return display_string(*s, kDisplayStringBytes);
    if (const auto b = as_bool()) return *b ? "true" : "false";
    if (is_float(type_)) {
      if (const auto* d = std::get_if<double>(&data_)) {
        return type_ == ValueType::kFloat32 ? fmt::format("{}", static_cast<float>(*d))
                                            : fmt::format("{}", *d);
      }
    }
    if (const auto i = as_int()) return fmt::format("{}", *i);
    if (const auto u = as_uint()) return fmt::format("{}", *u);
    return "?";
  }
  const size_t n = array_size();
  std::string out = "[";
  const size_t shown = std::min(n, max_items);
  for (size_t i = 0; i < shown; ++i) {
    if (i > 0) out += ", ";
    if (const auto* s = strings()) {
      out += display_string((*s)[i], kDisplayStringBytes / 3);
    } else if (const auto* a = arrays()) {
      out += (*a)[i].to_display(max_items);
    } else if (auto e = element(i)) {
      out += e->to_display(max_items);
    }
  }
  if (shown < n) out += shown > 0 ? ", ..." : "...";
  out += fmt::format("] ({} × {})", n, value_type_name(array_type_));
  return out;
}

}  // namespace strata::gguf
