// The reader on malformed and unsupported input: one test per way a file can be wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <limits>

#include "gguf/file.h"
#include "gguf/writer.h"
#include "gguf_bytes.h"
#include "support/temp_dir.h"

namespace strata::gguf {
namespace {

using testing::GgufBytes;
using ::testing::HasSubstr;

constexpr uint32_t kF32 = 0;
constexpr uint32_t kQ4_0 = 2;
constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

// Two metadata entries and two f32 tensors (32 and 32 bytes) at offsets 0 and 32.
GgufBytes valid_file() {
  GgufBytes b;
  b.header(2, 2).kv_string("general.architecture", "llama").kv_u32("x", 7);
  b.tensor_info("a", {8}, kF32, 0).tensor_info("b", {4, 2}, kF32, 32);
  b.pad_to(32).zeros(64);
  return b;
}

// Parses and expects failure with `code`; returns the message.
std::string error_of(const GgufBytes& b, ErrorCode code = ErrorCode::kCorrupt) {
  auto file = b.parse();
  EXPECT_FALSE(file.ok()) << "parsed a bad file";
  if (file.ok()) return "";
  EXPECT_EQ(file.status().code(), code) << file.status().message();
  return file.status().message();
}

// A file with one metadata entry `key` whose value bytes the caller appends.
GgufBytes one_entry(std::string_view key, ValueType type) {
  GgufBytes b;
  b.header(0, 1).str(key).u32(static_cast<uint32_t>(type));
  return b;
}

// A file whose only tensor's info the caller appends, followed by generous data.
template <typename F>
GgufBytes one_tensor(F&& info) {
  GgufBytes b;
  b.header(1, 0);
  info(b);
  b.pad_to(32).zeros(256);
  return b;
}

TEST(GgufBadInput, BaselineIsValid) {
  auto file = valid_file().parse();
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->tensors().size(), 2u);
  EXPECT_EQ(file->data_offset() % 32, 0u);
}

TEST(GgufBadInput, EveryTruncationIsAnError) {
  // One hand-made file and one from the Writer with every value type; no tensor ends
  // with padding, so every proper prefix is missing something.
  std::vector<std::vector<uint8_t>> files = {valid_file().bytes};
  {
    ::strata::testing::TempDir dir;
    Writer w;
    w.set("s", Value::from_string("text"));
    w.set("f", Value::from_f64(1.5));
    w.set("b", Value::from_bool(true));
    w.set("strings", Value::from_string_array({"a", "bc"}));
    w.set("nested", Value::from_array_of_arrays(
                        {Value::from_i32_array({1, 2}), Value::from_string_array({"x"})}));
    w.set("empty", Value::from_array_of_arrays({}));
    ASSERT_TRUE(w.add_tensor("q", quant::Type::Q8_0, {32, 2},
                             [](std::span<uint8_t> out, uint64_t, uint64_t) {
                               std::fill(out.begin(), out.end(), uint8_t{1});
                               return Status();
                             })
                    .ok());
    ASSERT_TRUE(
        w.add_tensor("f", quant::Type::F32, {8}, [](std::span<uint8_t> out, uint64_t, uint64_t) {
           std::fill(out.begin(), out.end(), uint8_t{2});
           return Status();
         }).ok());
    ASSERT_TRUE(w.write(dir / "w.gguf").ok());
    std::ifstream in(dir / "w.gguf", std::ios::binary);
    files.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    ASSERT_TRUE(File::parse(files.back()).ok());
  }
  for (const auto& bytes : files) {
    for (size_t n = 0; n < bytes.size(); ++n) {
      // A copy of exactly n bytes, so a sanitizer sees any read past the end.
      const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(n));
      auto file = File::parse(prefix);
      ASSERT_FALSE(file.ok()) << "a " << n << "-byte prefix of a " << bytes.size()
                              << "-byte file parsed";
      EXPECT_EQ(file.status().code(), ErrorCode::kCorrupt) << file.status().message();
    }
  }
}

TEST(GgufBadInput, TruncatedFieldNamesWhereTheFileEnds) {
  GgufBytes b;
  b.header(0, 1).str("key").u32(static_cast<uint32_t>(ValueType::kUint64)).u32(0).zeros(2);
  EXPECT_THAT(error_of(b), HasSubstr("file ends inside u64 at byte 39: needs 8 bytes, 6 left"));
}

TEST(GgufBadInput, EmptyAndTinyFiles) {
  EXPECT_THAT(error_of(GgufBytes{}), HasSubstr("the file is empty"));
  GgufBytes tiny;
  tiny.raw("GG", 2);
  EXPECT_THAT(error_of(tiny), HasSubstr("too short"));
}

TEST(GgufBadInput, NotAGgufFile) {
  GgufBytes zip;
  zip.raw("PK\x03\x04", 4).zeros(100);
  const std::string message = error_of(zip);
  EXPECT_THAT(message, HasSubstr("not a GGUF file (magic bytes 50 4b 03 04 \"PK..\""));
  EXPECT_THAT(message, HasSubstr("expected 47 47 55 46 \"GGUF\""));
}

TEST(GgufBadInput, Versions) {
  GgufBytes v1;
  v1.header(0, 0, 1);
  EXPECT_THAT(error_of(v1, ErrorCode::kUnsupported), HasSubstr("GGUF version 1 is not supported"));
  GgufBytes v0;
  v0.header(0, 0, 0);
  EXPECT_THAT(error_of(v0), HasSubstr("version 0"));
  GgufBytes v4;
  v4.header(0, 0, 4);
  EXPECT_THAT(error_of(v4, ErrorCode::kUnsupported), HasSubstr("GGUF version 4 is newer"));
  GgufBytes v2;
  v2.header(0, 0, 2);
  auto file = v2.parse();
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->version(), 2u);
}

TEST(GgufBadInput, BigEndianFiles) {
  // gguf-py's big-endian files keep the magic bytes and store the version big-endian.
  GgufBytes be;
  be.raw("GGUF", 4).raw("\0\0\0\3", 4).zeros(16);
  EXPECT_THAT(error_of(be, ErrorCode::kUnsupported),
              HasSubstr("big-endian GGUF file (version 3 stored big-endian"));
  // A writer that swapped the magic too.
  GgufBytes swapped;
  swapped.raw("FUGG", 4).raw("\0\0\0\3", 4).zeros(16);
  EXPECT_THAT(error_of(swapped, ErrorCode::kUnsupported),
              HasSubstr("big-endian GGUF file (magic bytes 46 55 47 47"));
}

TEST(GgufBadInput, MetadataCountPastTheEnd) {
  GgufBytes b;
  b.header(0, 1000000).kv_u32("a", 1);
  EXPECT_THAT(error_of(b),
              HasSubstr("metadata count 1000000 cannot fit: each entry takes at least 14 bytes "
                        "and only 17 bytes follow the header"));
  GgufBytes max;
  max.header(0, kU64Max).kv_u32("a", 1);
  EXPECT_THAT(error_of(max), HasSubstr("metadata count 18446744073709551615 cannot fit"));
}

TEST(GgufBadInput, TensorCountPastTheEnd) {
  GgufBytes b;
  b.header(1000, 1).kv_u32("a", 1).zeros(100);
  EXPECT_THAT(error_of(b), HasSubstr("tensor count 1000 cannot fit"));
  GgufBytes max;
  max.header(kU64Max, 0).zeros(100);
  EXPECT_THAT(error_of(max), HasSubstr("tensor count 18446744073709551615 cannot fit"));
}

TEST(GgufBadInput, KeyLengthPastTheEnd) {
  GgufBytes b;
  b.header(0, 1).u64(1000).raw("abcdefgh", 8);
  EXPECT_THAT(error_of(b),
              HasSubstr("metadata key at byte 24 has length 1000, but only 8 bytes are left"));
}

TEST(GgufBadInput, StringValueLengthPastTheEnd) {
  GgufBytes b = one_entry("tokenizer.chat_template", ValueType::kString);
  b.u64(kU64Max).raw("abc", 3);
  const std::string message = error_of(b);
  EXPECT_THAT(message, HasSubstr("metadata key 'tokenizer.chat_template' (entry #0)"));
  EXPECT_THAT(message, HasSubstr("has length 18446744073709551615, but only 3 bytes are left"));
}

TEST(GgufBadInput, HugeArrayCounts) {
  for (ValueType element : {ValueType::kUint8, ValueType::kUint32, ValueType::kFloat64,
                            ValueType::kString, ValueType::kArray}) {
    for (uint64_t count : {uint64_t{1} << 62, (uint64_t{1} << 62) + 1, kU64Max, uint64_t{100}}) {
      GgufBytes b = one_entry("tokenizer.ggml.tokens", ValueType::kArray);
      b.u32(static_cast<uint32_t>(element)).u64(count).zeros(40);
      EXPECT_THAT(error_of(b), HasSubstr(fmt::format("array length {} at byte", count)))
          << value_type_name(element);
    }
  }
}

TEST(GgufBadInput, UnknownValueTypes) {
  GgufBytes b = one_entry("k", static_cast<ValueType>(13));
  b.zeros(8);
  EXPECT_THAT(
      error_of(b),
      HasSubstr(
          "metadata key 'k' (entry #0): value type id 13 at byte 33 is not a GGUF value type"));
  GgufBytes arr = one_entry("k", ValueType::kArray);
  arr.u32(99).u64(0);
  EXPECT_THAT(error_of(arr), HasSubstr("array element type id 99"));
}

TEST(GgufBadInput, BoolOutOfRange) {
  GgufBytes b = one_entry("flag", ValueType::kBool);
  b.u8(2);
  EXPECT_THAT(error_of(b),
              HasSubstr("metadata key 'flag' (entry #0): bool value 2, expected 0 or 1"));
  GgufBytes arr = one_entry("flags", ValueType::kArray);
  arr.u32(static_cast<uint32_t>(ValueType::kBool)).u64(3).u8(0).u8(1).u8(7);
  EXPECT_THAT(error_of(arr), HasSubstr("bool array element 2 has value 7, expected 0 or 1"));
}

TEST(GgufBadInput, EmptyKeyAndEmptyTensorName) {
  GgufBytes b;
  b.header(0, 1).str("").u32(0).u8(1).zeros(4);
  EXPECT_THAT(error_of(b), HasSubstr("metadata entry #0 at byte 24 has an empty key"));
  EXPECT_THAT(error_of(one_tensor([](GgufBytes& t) { t.tensor_info("", {8}, kF32, 0); })),
              HasSubstr("has an empty name"));
}

TEST(GgufBadInput, DuplicateKey) {
  GgufBytes b;
  b.header(0, 3).kv_u32("a", 1).kv_u32("b", 2).kv_u32("a", 3);
  EXPECT_THAT(error_of(b),
              HasSubstr("metadata key 'a' appears more than once (entries #0 and #2)"));
}

TEST(GgufBadInput, DuplicateTensorName) {
  GgufBytes b;
  b.header(2, 0)
      .tensor_info("w", {8}, kF32, 0)
      .tensor_info("w", {8}, kF32, 32)
      .pad_to(32)
      .zeros(64);
  EXPECT_THAT(error_of(b),
              HasSubstr("tensor name 'w' appears more than once (tensor infos #0 and #1)"));
}

TEST(GgufBadInput, NestingTooDeep) {
  auto nested = [](int levels) {
    GgufBytes b = one_entry("deep", ValueType::kArray);
    for (int i = 1; i < levels; ++i) b.u32(static_cast<uint32_t>(ValueType::kArray)).u64(1);
    b.u32(static_cast<uint32_t>(ValueType::kUint8)).u64(0);
    return b;
  };
  auto ok = nested(kMaxArrayDepth).parse();
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_THAT(error_of(nested(kMaxArrayDepth + 1)), HasSubstr("arrays nest deeper than 8 levels"));
  // Far deeper than any stack would survive without the limit.
  EXPECT_THAT(error_of(nested(1000000)), HasSubstr("arrays nest deeper than 8 levels"));
}

TEST(GgufBadInput, NDims) {
  EXPECT_THAT(error_of(one_tensor([](GgufBytes& b) { b.str("t").u32(0).u32(kF32).u64(0); })),
              HasSubstr("tensor 't': n_dims is 0, expected 1 to 4"));
  EXPECT_THAT(error_of(one_tensor([](GgufBytes& b) {
                b.tensor_info("t", {1, 1, 1, 1, 1}, kF32, 0);
              })),
              HasSubstr("tensor 't': n_dims is 5, expected 1 to 4"));
}

TEST(GgufBadInput, Dims) {
  EXPECT_THAT(error_of(one_tensor([](GgufBytes& b) {
                b.tensor_info("t", {8, 0}, kF32, 0);
              })),
              HasSubstr("ne[1] is 0, expected 1 to 9223372036854775807"));
  EXPECT_THAT(error_of(one_tensor([](GgufBytes& b) { b.tensor_info("t", {kU64Max}, kF32, 0); })),
              HasSubstr("ne[0] is 18446744073709551615"));
  EXPECT_THAT(
      error_of(one_tensor([](GgufBytes& b) {
        b.tensor_info("t", {uint64_t{1} << 32, uint64_t{1} << 32}, kF32, 0);
      })),
      HasSubstr("shape [4294967296, 4294967296] has more than 9223372036854775807 elements"));
  // Elements fit, bytes do not: 2^62 f64 values.
  EXPECT_THAT(
      error_of(one_tensor([](GgufBytes& b) { b.tensor_info("t", {uint64_t{1} << 62}, 28, 0); })),
      HasSubstr("overflows 64 bits"));
}

TEST(GgufBadInput, BlockSizeMismatch) {
  EXPECT_THAT(error_of(one_tensor([](GgufBytes& b) {
                b.tensor_info("t", {48, 2}, kQ4_0, 0);
              })),
              HasSubstr("tensor 't': ne[0] = 48 is not a multiple of q4_0's block size 32"));
}

TEST(GgufBadInput, UnknownTensorType) {
  for (uint32_t id : {4u, 31u, 40u, 0xFFFFFFFFu}) {
    const std::string message =
        error_of(one_tensor([id](GgufBytes& b) { b.tensor_info("t", {32}, id, 0); }),
                 ErrorCode::kUnsupported);
    EXPECT_THAT(message, HasSubstr(fmt::format(
                             "tensor 't': type id {} is not a tensor type strata knows", id)));
    EXPECT_THAT(message, HasSubstr("known ids: 0-3, 6-30, 34, 35, 39"));
  }
}

TEST(GgufBadInput, OffsetOutsideTheData) {
  GgufBytes b;
  b.header(1, 0).tensor_info("t", {8}, kF32, 64).pad_to(32).zeros(64);
  EXPECT_THAT(
      error_of(b),
      HasSubstr(
          "tensor 't' data (offset 64, 32 bytes) does not fit in the data section (64 bytes"));
  GgufBytes wrap;  // offset + size wraps around 2^64
  wrap.header(1, 0).tensor_info("t", {8}, kF32, kU64Max - 31).pad_to(32).zeros(64);
  EXPECT_THAT(error_of(wrap), HasSubstr("does not fit in the data section"));
}

TEST(GgufBadInput, MisalignedOffset) {
  GgufBytes b;
  b.header(2, 0)
      .tensor_info("a", {4}, kF32, 0)
      .tensor_info("b", {4}, kF32, 16)
      .pad_to(32)
      .zeros(64);
  EXPECT_THAT(error_of(b),
              HasSubstr("tensor 'b': data offset 16 is not a multiple of the alignment 32"));
}

TEST(GgufBadInput, OverlappingTensors) {
  GgufBytes b;
  b.header(2, 0)
      .tensor_info("a", {16}, kF32, 0)
      .tensor_info("b", {8}, kF32, 32)
      .pad_to(32)
      .zeros(96);
  EXPECT_THAT(error_of(b),
              HasSubstr("tensors 'a' (offset 0, 64 bytes) and 'b' (offset 32) overlap"));
  GgufBytes same;
  same.header(2, 0)
      .tensor_info("a", {8}, kF32, 32)
      .tensor_info("b", {8}, kF32, 32)
      .pad_to(32)
      .zeros(96);
  EXPECT_THAT(error_of(same), HasSubstr("overlap"));
}

TEST(GgufBadInput, DataSectionPastTheEnd) {
  GgufBytes b;
  b.header(1, 0).tensor_info("t", {8}, kF32, 0);  // ends at byte 57, data would start at 64
  EXPECT_THAT(error_of(b),
              HasSubstr("data section would start at byte 64 (tensor infos end at byte 57"));
}

TEST(GgufBadInput, Alignment) {
  auto with_alignment = [](auto&& append_value) {
    GgufBytes b;
    b.header(1, 1).str("general.alignment");
    append_value(b);
    b.tensor_info("t", {16}, kF32, 0).pad_to(64).zeros(64);
    return b;
  };
  auto u32 = [](uint32_t v) {
    return [v](GgufBytes& b) { b.u32(static_cast<uint32_t>(ValueType::kUint32)).u32(v); };
  };
  EXPECT_THAT(error_of(with_alignment(u32(0))),
              HasSubstr("general.alignment is 0, expected a power of two from 1 to 2147483648"));
  EXPECT_THAT(error_of(with_alignment(u32(48))), HasSubstr("general.alignment is 48"));
  EXPECT_THAT(error_of(with_alignment([](GgufBytes& b) {
                b.u32(static_cast<uint32_t>(ValueType::kUint64)).u64(uint64_t{1} << 32);
              })),
              HasSubstr("general.alignment is 4294967296"));
  EXPECT_THAT(error_of(with_alignment(
                  [](GgufBytes& b) { b.u32(static_cast<uint32_t>(ValueType::kInt32)).i32(-64); })),
              HasSubstr("general.alignment is -64"));
  EXPECT_THAT(error_of(with_alignment([](GgufBytes& b) {
                b.u32(static_cast<uint32_t>(ValueType::kString)).str("64");
              })),
              HasSubstr("general.alignment has type string, expected an unsigned integer (u32)"));

  // Any integer type holding a valid value is accepted.
  for (auto append : std::vector<std::function<void(GgufBytes&)>>{
           u32(64), [](GgufBytes& b) { b.u32(static_cast<uint32_t>(ValueType::kInt32)).i32(64); },
           [](GgufBytes& b) { b.u32(static_cast<uint32_t>(ValueType::kUint64)).u64(64); }}) {
    auto file = with_alignment(append).parse();
    ASSERT_TRUE(file.ok()) << file.status().message();
    EXPECT_EQ(file->alignment(), 64u);
    EXPECT_EQ(file->data_offset(), 128u);
  }
}

TEST(GgufBadInput, ZeroTensorFileMayEndAfterMetadata) {
  GgufBytes b;
  b.header(0, 1).kv_u32("a", 1);  // 24 + 17 = 41 bytes, not a multiple of 32
  auto file = b.parse();
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->data_offset(), 41u);
}

TEST(GgufBadInput, OpenNamesTheFile) {
  ::strata::testing::TempDir dir;
  auto missing = File::open(dir / "missing.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("missing.gguf"));

  auto directory = File::open(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(directory.status().message(), HasSubstr("is a directory"));

  const auto empty = dir / "empty.gguf";
  std::ofstream(empty).flush();
  auto e = File::open(empty);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(e.status().message(),
            fmt::format("'{}': not a GGUF file: the file is empty (0 bytes)", empty.string()));

  const auto text = dir / "notes.txt";
  std::ofstream(text) << "hello world, not a model";
  auto t = File::open(text);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.status().message(),
              HasSubstr("notes.txt': not a GGUF file (magic bytes 68 65 6c 6c \"hell\""));
}

}  // namespace
}  // namespace strata::gguf
