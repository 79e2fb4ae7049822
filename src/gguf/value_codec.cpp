// Reads GGUF metadata values from untrusted bytes and writes them back.
#include "gguf/value_codec.h"

#include <cstring>
#include <string>

namespace strata::gguf {
namespace {

// An array of arrays spends at least a u32 element type and a u64 count per element.
constexpr uint64_t kMinNestedArrayBytes = 4 + 8;
constexpr uint64_t kMinStringBytes = 8;

Status check_bools(const uint8_t* p, uint64_t n, bool is_array) {
  for (uint64_t i = 0; i < n; ++i) {
    if (p[i] > 1) {
      if (!is_array) return corrupt("bool value {}, expected 0 or 1", p[i]);
      return corrupt("bool array element {} has value {}, expected 0 or 1", i, p[i]);
    }
  }
  return {};
}

Result<Value> read_scalar(ByteReader& reader, ValueType type) {
  const uint32_t size = value_type_size(type);
  STRATA_ASSIGN_OR_RETURN(const uint8_t* p, reader.take(size, value_type_name(type)));
  uint64_t u = 0;
  std::memcpy(&u, p, size);  // little-endian: low bytes first
  switch (type) {
    case ValueType::kUint8: return Value::from_u8(static_cast<uint8_t>(u));
    case ValueType::kInt8: return Value::from_i8(static_cast<int8_t>(u));
    case ValueType::kUint16: return Value::from_u16(static_cast<uint16_t>(u));
    case ValueType::kInt16: return Value::from_i16(static_cast<int16_t>(u));
    case ValueType::kUint32: return Value::from_u32(static_cast<uint32_t>(u));
    case ValueType::kInt32: return Value::from_i32(static_cast<int32_t>(u));
    case ValueType::kUint64: return Value::from_u64(u);
    case ValueType::kInt64: return Value::from_i64(static_cast<int64_t>(u));
    case ValueType::kFloat32: {
      float f;
      std::memcpy(&f, p, sizeof f);
      return Value::from_f32(f);
    }
    case ValueType::kFloat64: {
      double d;
      std::memcpy(&d, p, sizeof d);
      return Value::from_f64(d);
    }
    case ValueType::kBool: STRATA_TRY(check_bools(p, 1, false)); return Value::from_bool(u != 0);
    case ValueType::kString:
    case ValueType::kArray: break;
  }
  return internal_error("read_scalar called for {}", value_type_name(type));
}

Result<Value> read_array(ByteReader& reader, int depth) {
  if (depth + 1 > kMaxArrayDepth) {
    return corrupt(
        "arrays nest deeper than {} levels at byte {} (the limit keeps a crafted file "
        "from exhausting the stack)",
        kMaxArrayDepth, reader.position());
  }
  const uint64_t type_at = reader.position();
  STRATA_ASSIGN_OR_RETURN(const uint32_t type_id, reader.read<uint32_t>("array element type"));
  if (!is_known_value_type(type_id)) {
    return corrupt("array element type id {} at byte {} is not a GGUF value type (0-12)", type_id,
                   type_at);
  }
  const auto type = static_cast<ValueType>(type_id);
  const uint64_t count_at = reader.position();
  STRATA_ASSIGN_OR_RETURN(const uint64_t count, reader.read<uint64_t>("array length"));

  const uint32_t element_size = value_type_size(type);
  const uint64_t min_element_bytes =
      element_size > 0 ? element_size
                       : (type == ValueType::kString ? kMinStringBytes : kMinNestedArrayBytes);
  if (count > reader.remaining() / min_element_bytes) {
    return corrupt(
        "array length {} at byte {} cannot fit: {} elements need at least {} bytes each, "
        "only {} bytes are left in the file",
        count, count_at, value_type_name(type), min_element_bytes, reader.remaining());
  }

  if (element_size > 0) {
    STRATA_ASSIGN_OR_RETURN(const uint8_t* p, reader.take(count * element_size, "array data"));
    if (type == ValueType::kBool) STRATA_TRY(check_bools(p, count, true));
    return Value::from_numeric_array(type, std::vector<uint8_t>(p, p + count * element_size));
  }
  if (type == ValueType::kString) {
    std::vector<std::string> strings;
    strings.reserve(reserve_hint(count));
    for (uint64_t i = 0; i < count; ++i) {
      auto s = reader.read_string("string");
      if (!s.ok()) return std::move(s).status().with_context(fmt::format("array element {}", i));
      strings.emplace_back(*s);
    }
    return Value::from_string_array(std::move(strings));
  }
  std::vector<Value> arrays;
  arrays.reserve(reserve_hint(count));
  for (uint64_t i = 0; i < count; ++i) {
    auto v = read_array(reader, depth + 1);
    if (!v.ok()) return std::move(v).status().with_context(fmt::format("array element {}", i));
    arrays.push_back(std::move(*v));
  }
  return Value::from_array_of_arrays(std::move(arrays));
}

template <typename T>
void append_raw(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

}  // namespace

Result<Value> read_value(ByteReader& reader, ValueType type, int depth) {
  if (type == ValueType::kString) {
    STRATA_ASSIGN_OR_RETURN(const std::string_view s, reader.read_string("string"));
    return Value::from_string(std::string(s));
  }
  if (type == ValueType::kArray) return read_array(reader, depth);
  return read_scalar(reader, type);
}

Status check_encodable(const Value& value, int depth) {
  if (!value.is_array()) return {};
  if (depth + 1 > kMaxArrayDepth) {
    return invalid_argument("arrays nest deeper than {} levels, which readers refuse",
                            kMaxArrayDepth);
  }
  if (const auto* arrays = value.arrays()) {
    for (size_t i = 0; i < arrays->size(); ++i) {
      const Value& element = (*arrays)[i];
      if (!element.is_array()) {
        return invalid_argument("element {} of an array of arrays is a {}, not an array", i,
                                value_type_name(element.type()));
      }
      STRATA_TRY(check_encodable(element, depth + 1).with_context(fmt::format("element {}", i)));
    }
  }
  return {};
}

void append_u32(std::vector<uint8_t>& out, uint32_t v) { append_raw(out, v); }
void append_u64(std::vector<uint8_t>& out, uint64_t v) { append_raw(out, v); }

void append_string(std::vector<uint8_t>& out, std::string_view s) {
  append_u64(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void append_value(std::vector<uint8_t>& out, const Value& value) {
  if (value.is_array()) {
    append_u32(out, static_cast<uint32_t>(value.array_type()));
    append_u64(out, value.array_size());
    if (const auto* bytes = value.numeric_bytes()) {
      out.insert(out.end(), bytes->begin(), bytes->end());
    } else if (const auto* strings = value.strings()) {
      for (const std::string& s : *strings) append_string(out, s);
    } else if (const auto* arrays = value.arrays()) {
      for (const Value& element : *arrays) append_value(out, element);
    }
    return;
  }
  switch (value.type()) {
    case ValueType::kUint8: append_raw(out, static_cast<uint8_t>(*value.as_uint())); break;
    case ValueType::kInt8: append_raw(out, static_cast<int8_t>(*value.as_int())); break;
    case ValueType::kUint16: append_raw(out, static_cast<uint16_t>(*value.as_uint())); break;
    case ValueType::kInt16: append_raw(out, static_cast<int16_t>(*value.as_int())); break;
    case ValueType::kUint32: append_raw(out, static_cast<uint32_t>(*value.as_uint())); break;
    case ValueType::kInt32: append_raw(out, static_cast<int32_t>(*value.as_int())); break;
    case ValueType::kUint64: append_raw(out, *value.as_uint()); break;
    case ValueType::kInt64: append_raw(out, *value.as_int()); break;
    case ValueType::kFloat32: append_raw(out, static_cast<float>(*value.as_number())); break;
    case ValueType::kFloat64: append_raw(out, *value.as_number()); break;
    case ValueType::kBool: append_raw(out, static_cast<uint8_t>(*value.as_bool() ? 1 : 0)); break;
    case ValueType::kString: append_string(out, *value.as_string()); break;
    case ValueType::kArray: break;
  }
}

}  // namespace strata::gguf
