// gguf::Value: factories, converting getters, array access and the display form.
#include "gguf/value.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

namespace strata::gguf {
namespace {

using ::testing::HasSubstr;

TEST(Value, TypeNamesAndSizes) {
  EXPECT_EQ(value_type_name(ValueType::kUint32), "u32");
  EXPECT_EQ(value_type_name(ValueType::kString), "string");
  EXPECT_EQ(value_type_name(ValueType::kArray), "array");
  EXPECT_EQ(value_type_name(ValueType::kFloat64), "f64");
  EXPECT_EQ(value_type_name(static_cast<ValueType>(13)), "unknown");
  EXPECT_EQ(value_type_size(ValueType::kBool), 1u);
  EXPECT_EQ(value_type_size(ValueType::kInt16), 2u);
  EXPECT_EQ(value_type_size(ValueType::kFloat32), 4u);
  EXPECT_EQ(value_type_size(ValueType::kUint64), 8u);
  EXPECT_EQ(value_type_size(ValueType::kString), 0u);
  EXPECT_EQ(value_type_size(ValueType::kArray), 0u);
  EXPECT_TRUE(is_known_value_type(12));
  EXPECT_FALSE(is_known_value_type(13));
}

TEST(Value, DefaultIsU8Zero) {
  Value v;
  EXPECT_EQ(v.type(), ValueType::kUint8);
  EXPECT_EQ(v.as_uint(), 0u);
  EXPECT_EQ(v.to_display(), "0");
}

TEST(Value, IntegerConversions) {
  EXPECT_EQ(Value::from_u8(200).as_uint(), 200u);
  EXPECT_EQ(Value::from_u8(200).as_int(), 200);
  EXPECT_EQ(Value::from_i8(-5).as_int(), -5);
  EXPECT_EQ(Value::from_i8(-5).as_uint(), std::nullopt);
  EXPECT_EQ(Value::from_i32(7).as_uint(), 7u);
  EXPECT_EQ(Value::from_u16(65535).as_number(), 65535.0);
  const uint64_t big = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(Value::from_u64(big).as_uint(), big);
  EXPECT_EQ(Value::from_u64(big).as_int(), std::nullopt);
  EXPECT_EQ(Value::from_i64(std::numeric_limits<int64_t>::min()).as_int(),
            std::numeric_limits<int64_t>::min());
  // Floats and bools are not integers.
  EXPECT_EQ(Value::from_f32(3.0f).as_uint(), std::nullopt);
  EXPECT_EQ(Value::from_f32(3.0f).as_int(), std::nullopt);
  EXPECT_EQ(Value::from_bool(true).as_uint(), std::nullopt);
  EXPECT_EQ(Value::from_string("7").as_uint(), std::nullopt);
}

TEST(Value, FloatsBoolsStrings) {
  EXPECT_EQ(Value::from_f32(0.5f).as_number(), 0.5);
  EXPECT_EQ(Value::from_f64(1e300).as_number(), 1e300);
  EXPECT_EQ(Value::from_bool(true).as_bool(), true);
  EXPECT_EQ(Value::from_u8(1).as_bool(), std::nullopt);
  ASSERT_NE(Value::from_string("hi").as_string(), nullptr);
  EXPECT_EQ(*Value::from_string("hi").as_string(), "hi");
  EXPECT_EQ(Value::from_u32(1).as_string(), nullptr);
  EXPECT_EQ(Value::from_string("x").as_number(), std::nullopt);
}

TEST(Value, NumericArrays) {
  const Value v = Value::from_i32_array({1, -2, 3});
  EXPECT_TRUE(v.is_array());
  EXPECT_EQ(v.array_type(), ValueType::kInt32);
  EXPECT_EQ(v.array_size(), 3u);
  ASSERT_NE(v.numeric_bytes(), nullptr);
  EXPECT_EQ(v.numeric_bytes()->size(), 12u);
  EXPECT_EQ(v.strings(), nullptr);
  EXPECT_EQ(v.to_i64_vector(), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(v.to_f32_vector(), (std::vector<float>{1.0f, -2.0f, 3.0f}));
  EXPECT_EQ(v.element(1)->as_int(), -2);
  EXPECT_EQ(v.element(1)->type(), ValueType::kInt32);
  EXPECT_EQ(v.element(3), std::nullopt);

  const Value f = Value::from_f32_array({0.25f, -1.5f});
  EXPECT_EQ(f.to_f32_vector(), (std::vector<float>{0.25f, -1.5f}));
  EXPECT_EQ(f.to_i64_vector(), std::nullopt);  // floats are not integers

  // u64 values above INT64_MAX do not fit an i64 vector.
  std::vector<uint8_t> bytes(8, 0xFF);
  EXPECT_EQ(Value::from_numeric_array(ValueType::kUint64, bytes).to_i64_vector(), std::nullopt);

  // f64 outside float range does not fit an f32 vector.
  const double huge = 1e300;
  std::vector<uint8_t> dbytes(8);
  std::memcpy(dbytes.data(), &huge, 8);
  EXPECT_EQ(Value::from_numeric_array(ValueType::kFloat64, dbytes).to_f32_vector(), std::nullopt);
}

TEST(Value, NumericArrayFactoryKeepsValuesWellFormed) {
  // A trailing partial element is dropped; a variable-size element type becomes u8.
  const Value v = Value::from_numeric_array(ValueType::kUint32, {1, 0, 0, 0, 9, 9});
  EXPECT_EQ(v.array_size(), 1u);
  EXPECT_EQ(v.element(0)->as_uint(), 1u);
  const Value s = Value::from_numeric_array(ValueType::kString, {1, 2});
  EXPECT_EQ(s.array_type(), ValueType::kUint8);
  EXPECT_EQ(s.array_size(), 2u);
}

TEST(Value, StringAndNestedArrays) {
  const Value s = Value::from_string_array({"a", "bc"});
  EXPECT_EQ(s.array_type(), ValueType::kString);
  EXPECT_EQ(s.array_size(), 2u);
  EXPECT_EQ(*s.element(1)->as_string(), "bc");
  EXPECT_EQ(s.to_f32_vector(), std::nullopt);
  EXPECT_EQ(s.numeric_bytes(), nullptr);

  const Value nested = Value::from_array_of_arrays({s, Value::from_i32_array({4})});
  EXPECT_EQ(nested.array_type(), ValueType::kArray);
  EXPECT_EQ(nested.array_size(), 2u);
  ASSERT_NE(nested.arrays(), nullptr);
  EXPECT_EQ((*nested.arrays())[1].element(0)->as_int(), 4);
  EXPECT_EQ(nested.element(0)->array_size(), 2u);

  const Value empty = Value::from_string_array({});
  EXPECT_TRUE(empty.is_array());
  EXPECT_EQ(empty.array_size(), 0u);
  EXPECT_EQ(Value::from_u32(3).array_size(), 0u);
}

TEST(Value, Display) {
  EXPECT_EQ(Value::from_u32(32000).to_display(), "32000");
  EXPECT_EQ(Value::from_i8(-3).to_display(), "-3");
  EXPECT_EQ(Value::from_f32(1e-5f).to_display(), "1e-05");
  EXPECT_EQ(Value::from_f64(0.5).to_display(), "0.5");
  EXPECT_EQ(Value::from_bool(false).to_display(), "false");
  EXPECT_EQ(Value::from_string("a\"b\n\x01").to_display(), "\"a\\\"b\\n\\x01\"");
  EXPECT_EQ(Value::from_i32_array({1, 2, 3}).to_display(), "[1, 2, 3] (3 × i32)");
  EXPECT_EQ(Value::from_i32_array({1, 2, 3}).to_display(2), "[1, 2, ...] (3 × i32)");
  EXPECT_EQ(Value::from_string_array({"x"}).to_display(), "[\"x\"] (1 × string)");
  EXPECT_EQ(Value::from_string_array({}).to_display(), "[] (0 × string)");
  EXPECT_EQ(Value::from_array_of_arrays({Value::from_i32_array({5})}).to_display(),
            "[[5] (1 × i32)] (1 × array)");
  // Long strings are cut at a character boundary and report their length.
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "é";  // 2 bytes each
  const std::string shown = Value::from_string(long_text).to_display();
  EXPECT_THAT(shown, HasSubstr("... (200 bytes)"));
  EXPECT_LT(shown.size(), 130u);
}

}  // namespace
}  // namespace strata::gguf
