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
  // of value_type_size(element_type).
  static Value from_numeric_array(ValueType element_type, std::vector<uint8_t> bytes);
  static Value from_f32_array(const std::vector<float>& values);
  static Value from_i32_array(const std::vector<int32_t>& values);
  static Value from_string_array(std::vector<std::string> values);
  static Value from_array_of_arrays(std::vector<Value> values);  // each element an array

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
      data_;
};

}  // namespace strata::gguf
