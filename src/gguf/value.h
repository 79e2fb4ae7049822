// A GGUF metadata value: a scalar, a string, or a typed array (arrays of arrays included).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace strata::gguf {

// Ids as stored in GGUF files.
enum class ValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};

std::string_view value_type_name(ValueType type);  // "u32", "string", "array", ...
// Bytes one element occupies in a file; 0 for string and array (variable size).
uint32_t value_type_size(ValueType type);
// True for the 13 ids above; a file may hold any u32 in a type field.
bool is_known_value_type(uint32_t id);

// How deep arrays may nest (an array of arrays of u8 is depth 2). Bounds the reader's
// recursion so a crafted file cannot exhaust the stack; the writer refuses deeper values.
inline constexpr int kMaxArrayDepth = 8;

// Owning value. Numeric arrays keep their little-endian bytes as in the file (no per-element
// objects), so memory stays proportional to the file.
class Value {
 public:
  Value() = default;

  static Value from_u8(uint8_t v);
  static Value from_i8(int8_t v);
  static Value from_u16(uint16_t v);
  static Value from_i16(int16_t v);
  static Value from_u32(uint32_t v);
  static Value from_i32(int32_t v);
  static Value from_u64(uint64_t v);
  static Value from_i64(int64_t v);
  static Value from_f32(float v);
  static Value from_f64(double v);
  static Value from_bool(bool v);
  static Value from_string(std::string v);
  // Numeric (or bool) array from raw little-endian element bytes; size must be a multiple
  // of value_type_size(element_type). A string/array element type is treated as u8 and a
  // trailing partial element is dropped, so the Value is always well formed.
  static Value from_numeric_array(ValueType element_type, std::vector<uint8_t> bytes);
  static Value from_f32_array(const std::vector<float>& values);
  static Value from_i32_array(const std::vector<int32_t>& values);
  static Value from_string_array(std::vector<std::string> values);
  // Each element must be an array (the writer refuses others; they cannot be encoded).
  static Value from_array_of_arrays(std::vector<Value> values);

  ValueType type() const { return type_; }
  bool is_array() const { return type_ == ValueType::kArray; }

  // Scalar access with lossless conversion; nullopt when the type does not fit.
  std::optional<uint64_t> as_uint() const;   // any integer type holding a value >= 0
  std::optional<int64_t> as_int() const;     // any integer type that fits int64
  std::optional<double> as_number() const;   // any integer or float type
  std::optional<bool> as_bool() const;
  const std::string* as_string() const;

  // Arrays.
  ValueType array_type() const { return array_type_; }  // element type; valid if is_array()
  size_t array_size() const;
  const std::vector<uint8_t>* numeric_bytes() const;  // numeric/bool arrays
  const std::vector<std::string>* strings() const;     // string arrays
  const std::vector<Value>* arrays() const;            // arrays of arrays
  // Converting numeric readers: nullopt if not a numeric array or a value does not fit.
  // f32: any numeric element type (integers rounded, f64 within float range);
  // i64: integer element types only.
  std::optional<std::vector<float>> to_f32_vector() const;
  std::optional<std::vector<int64_t>> to_i64_vector() const;
  std::optional<Value> element(size_t index) const;  // any array, as a standalone Value

  // Short human form for `strata info`: arrays show their first max_items elements.
  std::string to_display(size_t max_items = 8) const;

 private:
  ValueType type_ = ValueType::kUint8;
  ValueType array_type_ = ValueType::kUint8;
  std::variant<std::monostate, uint64_t, int64_t, double, bool, std::string,
               std::vector<uint8_t>, std::vector<std::string>, std::vector<Value>>
      data_{uint64_t{0}};  // a default Value is the u8 0
};

}  // namespace strata::gguf
