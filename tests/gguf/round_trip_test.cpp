// Writer -> reader round trips: every value type, alignments, tensor types and layouts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "gguf/file.h"
#include "gguf/writer.h"
#include "support/temp_dir.h"

namespace strata::gguf {
namespace {

// Byte i of a tensor's data is a function of its position, so any misplaced chunk shows.
uint8_t pattern_byte(uint64_t i, uint8_t salt) {
  return static_cast<uint8_t>((i * 131 + salt) ^ (i >> 8));
}

TensorFill pattern_fill(uint64_t row_bytes, uint8_t salt) {
  return [row_bytes, salt](std::span<uint8_t> out, uint64_t row_begin, uint64_t) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = pattern_byte(row_begin * row_bytes + i, salt);
    return Status();
  };
}

std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string embedded_nul_text() {
  static constexpr char kText[] = "UTF-8 é ✓ and a NUL\0 inside";
  return std::string(kText, sizeof(kText) - 1);
}

Writer all_value_types_writer() {
  Writer w;
  w.set("general.architecture", Value::from_string("llama"));
  w.set("v.u8", Value::from_u8(250));
  w.set("v.i8", Value::from_i8(-100));
  w.set("v.u16", Value::from_u16(60000));
  w.set("v.i16", Value::from_i16(-30000));
  w.set("v.u32", Value::from_u32(4000000000u));
  w.set("v.i32", Value::from_i32(-2000000000));
  w.set("v.u64", Value::from_u64(std::numeric_limits<uint64_t>::max()));
  w.set("v.i64", Value::from_i64(std::numeric_limits<int64_t>::min()));
  w.set("v.f32", Value::from_f32(1e-5f));
  w.set("v.f64", Value::from_f64(-2.5e300));
  w.set("v.bool", Value::from_bool(true));
  w.set("v.string", Value::from_string(embedded_nul_text()));
  w.set("v.empty_string", Value::from_string(""));
  w.set("a.f32", Value::from_f32_array({1.0f, -0.5f, 3.25f}));
  w.set("a.i32", Value::from_i32_array({7, -8}));
  w.set("a.bool", Value::from_numeric_array(ValueType::kBool, {1, 0, 1}));
  w.set("a.u64", Value::from_numeric_array(ValueType::kUint64, std::vector<uint8_t>(16, 0xAB)));
  w.set("a.strings", Value::from_string_array({"<s>", "", "▁the", std::string(300, 'x')}));
  w.set("a.empty_u8", Value::from_numeric_array(ValueType::kUint8, {}));
  w.set("a.empty_strings", Value::from_string_array({}));
  w.set("a.empty_arrays", Value::from_array_of_arrays({}));
  w.set("a.nested", Value::from_array_of_arrays({
                        Value::from_i32_array({1, 2}),
                        Value::from_string_array({"p", "q"}),
                        Value::from_array_of_arrays(
                            {Value::from_f32_array({9.0f}), Value::from_string_array({})}),
                        Value::from_numeric_array(ValueType::kUint8, {}),
                    }));
  return w;
}

TEST(GgufRoundTrip, EveryValueType) {
  testing::TempDir dir;
  const auto path = dir / "values.gguf";
  const Writer w = all_value_types_writer();
  ASSERT_TRUE(w.write(path).ok());
  auto file = File::open(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->alignment(), 32u);
  EXPECT_TRUE(file->tensors().empty());
  EXPECT_EQ(file->path(), path);
  EXPECT_EQ(file->architecture(), "llama");

  // Metadata keeps insertion order.
  ASSERT_EQ(file->metadata().size(), 23u);
  EXPECT_EQ(file->metadata()[0].first, "general.architecture");
  EXPECT_EQ(file->metadata()[1].first, "v.u8");
  EXPECT_EQ(file->metadata().back().first, "a.nested");

  EXPECT_EQ(file->find("v.u8")->type(), ValueType::kUint8);
  EXPECT_EQ(file->find("v.u8")->as_uint(), 250u);
  EXPECT_EQ(file->find("v.i8")->as_int(), -100);
  EXPECT_EQ(file->find("v.u16")->as_uint(), 60000u);
  EXPECT_EQ(file->find("v.i16")->as_int(), -30000);
  EXPECT_EQ(file->find("v.u32")->as_uint(), 4000000000u);
  EXPECT_EQ(file->find("v.i32")->as_int(), -2000000000);
  EXPECT_EQ(file->find("v.u64")->as_uint(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(file->find("v.i64")->as_int(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(file->find("v.f32")->type(), ValueType::kFloat32);
  EXPECT_EQ(file->find("v.f32")->as_number(), static_cast<double>(1e-5f));
  EXPECT_EQ(file->find("v.f64")->as_number(), -2.5e300);
  EXPECT_EQ(file->find("v.bool")->as_bool(), true);
  EXPECT_EQ(*file->find("v.string")->as_string(), embedded_nul_text());
  EXPECT_EQ(*file->find("v.empty_string")->as_string(), "");

  EXPECT_EQ(file->find("a.f32")->to_f32_vector(), (std::vector<float>{1.0f, -0.5f, 3.25f}));
  EXPECT_EQ(file->find("a.i32")->to_i64_vector(), (std::vector<int64_t>{7, -8}));
  EXPECT_EQ(file->find("a.bool")->array_type(), ValueType::kBool);
  EXPECT_EQ(file->find("a.bool")->element(2)->as_bool(), true);
  EXPECT_EQ(*file->find("a.u64")->numeric_bytes(), std::vector<uint8_t>(16, 0xAB));
  const auto* strings = file->find("a.strings")->strings();
  ASSERT_NE(strings, nullptr);
  EXPECT_EQ(*strings, (std::vector<std::string>{"<s>", "", "▁the", std::string(300, 'x')}));
  EXPECT_EQ(file->find("a.empty_u8")->array_size(), 0u);
  EXPECT_EQ(file->find("a.empty_u8")->array_type(), ValueType::kUint8);
  EXPECT_EQ(file->find("a.empty_strings")->array_type(), ValueType::kString);
  EXPECT_EQ(file->find("a.empty_arrays")->array_type(), ValueType::kArray);
  EXPECT_EQ(file->find("a.empty_arrays")->array_size(), 0u);

  const Value* nested = file->find("a.nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_NE(nested->arrays(), nullptr);
  const auto& inner = *nested->arrays();
  ASSERT_EQ(inner.size(), 4u);
  EXPECT_EQ(inner[0].to_i64_vector(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(*inner[1].strings(), (std::vector<std::string>{"p", "q"}));
  ASSERT_NE(inner[2].arrays(), nullptr);
  EXPECT_EQ((*inner[2].arrays())[0].to_f32_vector(), (std::vector<float>{9.0f}));
  EXPECT_EQ((*inner[2].arrays())[1].array_type(), ValueType::kString);
  EXPECT_EQ(inner[3].array_size(), 0u);

  // A zero-tensor file ends right after its metadata.
  EXPECT_EQ(file->data_offset(), file->file_size());
}

TEST(GgufRoundTrip, RewritingAReadFileGivesTheSameBytes) {
  testing::TempDir dir;
  Writer w = all_value_types_writer();
  ASSERT_TRUE(w.add_tensor("t", quant::Type::F32, {8, 3}, pattern_fill(32, 1)).ok());
  ASSERT_TRUE(w.write(dir / "a.gguf").ok());
  auto a = File::open(dir / "a.gguf");
  ASSERT_TRUE(a.ok()) << a.status().message();

  Writer copy;
  for (const auto& [key, value] : a->metadata()) copy.set(key, value);
  for (const TensorInfo& t : a->tensors()) {
    const uint64_t row = t.n_bytes / (t.n_elements / t.ne[0]);
    auto data = t.data;
    ASSERT_TRUE(copy.add_tensor(t.name, t.type, t.ne,
                                [data, row](std::span<uint8_t> out, uint64_t r, uint64_t) {
                                  std::memcpy(out.data(), data.data() + r * row, out.size());
                                  return Status();
                                })
                    .ok());
  }
  ASSERT_TRUE(copy.write(dir / "b.gguf").ok());
  EXPECT_EQ(read_bytes(dir / "a.gguf"), read_bytes(dir / "b.gguf"));
}

struct TypedTensor {
  const char* name;
  quant::Type type;
  std::vector<uint64_t> ne;
  uint64_t expected_bytes;
};

const std::vector<TypedTensor>& typed_tensors() {
  static const std::vector<TypedTensor> tensors = {
      {"f32", quant::Type::F32, {5}, 20},
      {"f16", quant::Type::F16, {3, 7}, 42},
      {"bf16", quant::Type::BF16, {2, 2, 2}, 16},
      {"q4_0", quant::Type::Q4_0, {64, 3}, 2 * 18 * 3},
      {"q8_0", quant::Type::Q8_0, {32, 1, 2, 2}, 34 * 4},
      {"q4_K", quant::Type::Q4_K, {512, 2}, 2 * 144 * 2},
      {"q6_K", quant::Type::Q6_K, {256}, 210},
      {"iq4_nl", quant::Type::IQ4_NL, {32, 5}, 18 * 5},
      {"i32", quant::Type::I32, {11}, 44},
  };
  return tensors;
}

class GgufAlignment : public ::testing::TestWithParam<uint64_t> {};

TEST_P(GgufAlignment, TensorsOfSeveralTypes) {
  const uint64_t alignment = GetParam();
  testing::TempDir dir;
  Writer w;
  w.set("general.architecture", Value::from_string("test"));
  w.set_alignment(alignment);
  uint8_t salt = 0;
  for (const TypedTensor& t : typed_tensors()) {
    const uint64_t rows = t.expected_bytes / *quant::row_bytes(t.type, t.ne[0]);
    ASSERT_TRUE(
        w.add_tensor(t.name, t.type, t.ne, pattern_fill(t.expected_bytes / rows, ++salt)).ok());
  }
  const auto path = dir / "typed.gguf";
  ASSERT_TRUE(w.write(path).ok());
  auto file = File::open(path);
  ASSERT_TRUE(file.ok()) << file.status().message();

  EXPECT_EQ(file->alignment(), alignment);
  const Value* stored = file->find("general.alignment");
  if (alignment == 32) {
    EXPECT_EQ(stored, nullptr);
  } else {
    ASSERT_NE(stored, nullptr);
    EXPECT_EQ(stored->type(), ValueType::kUint32);
    EXPECT_EQ(stored->as_uint(), alignment);
  }
  EXPECT_EQ(file->data_offset() % alignment, 0u);
  EXPECT_EQ(file->file_size(), file->data_offset() + w.data_bytes());

  ASSERT_EQ(file->tensors().size(), typed_tensors().size());
  salt = 0;
  for (size_t i = 0; i < typed_tensors().size(); ++i) {
    const TypedTensor& want = typed_tensors()[i];
    const TensorInfo& got = file->tensors()[i];
    ++salt;
    EXPECT_EQ(got.name, want.name);
    EXPECT_EQ(got.type, want.type);
    EXPECT_EQ(got.ne, want.ne);
    EXPECT_EQ(got.n_bytes, want.expected_bytes) << want.name;
    EXPECT_EQ(got.offset % alignment, 0u);
    ASSERT_EQ(got.data.size(), want.expected_bytes);
    EXPECT_EQ(got.data.data(), file->bytes().data() + file->data_offset() + got.offset);
    for (size_t b = 0; b < got.data.size(); ++b) {
      ASSERT_EQ(got.data[b], pattern_byte(b, salt)) << want.name << " byte " << b;
    }
    EXPECT_EQ(file->find_tensor(want.name), &got);
  }
  EXPECT_EQ(file->find_tensor("missing"), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Alignments, GgufAlignment, ::testing::Values(1, 8, 32, 64, 4096));

TEST(GgufRoundTrip, CopiesShareTheMappingAndOutliveTheOriginal) {
  testing::TempDir dir;
  Writer w;
  ASSERT_TRUE(w.add_tensor("t", quant::Type::F32, {4}, pattern_fill(16, 9)).ok());
  ASSERT_TRUE(w.write(dir / "t.gguf").ok());
  std::optional<File> copy;
  {
    auto file = File::open(dir / "t.gguf");
    ASSERT_TRUE(file.ok());
    copy = *file;  // the original goes out of scope here
  }
  const TensorInfo* t = copy->find_tensor("t");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->data[0], pattern_byte(0, 9));
  EXPECT_EQ(t->data[15], pattern_byte(15, 9));
  File moved = std::move(*copy);
  EXPECT_EQ(moved.tensors().size(), 1u);
}

TEST(GgufRoundTrip, TypedGetters) {
  testing::TempDir dir;
  Writer w;
  w.set("general.architecture", Value::from_string("llama"));
  w.set("llama.block_count", Value::from_u32(2));
  w.set("llama.eps", Value::from_f32(0.25f));
  w.set("neg", Value::from_i32(-1));
  w.set("flag", Value::from_bool(true));
  w.set("tokens", Value::from_string_array({"a"}));
  ASSERT_TRUE(w.write(dir / "g.gguf").ok());
  auto file = File::open(dir / "g.gguf");
  ASSERT_TRUE(file.ok());

  EXPECT_EQ(*file->get_uint("llama.block_count"), 2u);
  EXPECT_EQ(*file->get_number("llama.block_count"), 2.0);
  EXPECT_EQ(*file->get_number("llama.eps"), 0.25);
  EXPECT_EQ(*file->get_string("general.architecture"), "llama");
  EXPECT_EQ(*file->get_bool("flag"), true);
  EXPECT_EQ((*file->get_array("tokens", ValueType::kString))->array_size(), 1u);

  auto missing = file->get_uint("llama.context_length");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "metadata key 'llama.context_length' is missing");

  auto wrong = file->get_uint("general.architecture");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message(),
            "metadata key 'general.architecture' has type string, expected an integer");
  EXPECT_THAT(file->get_uint("neg").status().message(),
              ::testing::HasSubstr("is -1, expected a non-negative"));
  EXPECT_THAT(file->get_uint("llama.eps").status().message(), ::testing::HasSubstr("has type f32"));
  EXPECT_THAT(file->get_string("llama.block_count").status().message(),
              ::testing::HasSubstr("has type u32, expected a string"));
  EXPECT_THAT(file->get_number("tokens").status().message(),
              ::testing::HasSubstr("has type array of string, expected a number"));
  EXPECT_THAT(file->get_array("tokens", ValueType::kFloat32).status().message(),
              ::testing::HasSubstr("expected an array of f32"));
  EXPECT_FALSE(file->get_bool("llama.block_count").ok());
}

}  // namespace
}  // namespace strata::gguf
