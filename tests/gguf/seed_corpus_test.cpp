// Generates the seed corpus fuzz/corpus/gguf on demand (disabled, so not run in CI):
//   STRATA_GGUF_CORPUS_OUT=fuzz/corpus/gguf build/<dir>/bin/gguf_test
//       --gtest_also_run_disabled_tests --gtest_filter='*SeedCorpus*'
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "gguf/file.h"
#include "gguf/writer.h"
#include "gguf_bytes.h"

namespace strata::gguf {
namespace {

using testing::GgufBytes;

TensorFill counting_fill() {
  return [](std::span<uint8_t> out, uint64_t row_begin, uint64_t) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(row_begin * 7 + i);
    return Status();
  };
}

void write_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_valid(const std::filesystem::path& dir) {
  auto emit = [&](const char* name, const Writer& w) {
    ASSERT_TRUE(w.write(dir / name).ok()) << name;
    ASSERT_TRUE(File::open(dir / name).ok()) << name;
  };
  emit("empty.gguf", Writer());

  Writer scalars;
  scalars.set("general.architecture", Value::from_string("llama"));
  scalars.set("u8", Value::from_u8(1));
  scalars.set("i8", Value::from_i8(-1));
  scalars.set("u16", Value::from_u16(2));
  scalars.set("i16", Value::from_i16(-2));
  scalars.set("u32", Value::from_u32(3));
  scalars.set("i32", Value::from_i32(-3));
  scalars.set("u64", Value::from_u64(4));
  scalars.set("i64", Value::from_i64(-4));
  scalars.set("f32", Value::from_f32(0.5f));
  scalars.set("f64", Value::from_f64(-0.25));
  scalars.set("bool", Value::from_bool(true));
  emit("scalars.gguf", scalars);

  Writer arrays;
  arrays.set("f32", Value::from_f32_array({1.0f, 2.0f}));
  arrays.set("i32", Value::from_i32_array({-1, 0, 1}));
  arrays.set("bool", Value::from_numeric_array(ValueType::kBool, {0, 1}));
  arrays.set("u64", Value::from_numeric_array(ValueType::kUint64, std::vector<uint8_t>(16, 1)));
  arrays.set("strings", Value::from_string_array({"a", "", "\xe2\x96\x81x"}));
  arrays.set("empty_u8", Value::from_numeric_array(ValueType::kUint8, {}));
  arrays.set("empty_strings", Value::from_string_array({}));
  emit("arrays.gguf", arrays);

  Writer nested;
  nested.set("nested", Value::from_array_of_arrays(
                           {Value::from_i32_array({1}), Value::from_string_array({"x", "y"}),
                            Value::from_array_of_arrays({Value::from_f32_array({3.0f})}),
                            Value::from_array_of_arrays({})}));
  emit("nested.gguf", nested);

  Writer vocab;
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  for (int i = 0; i < 61; ++i) tokens.push_back("tok" + std::to_string(i));
  std::vector<float> scores(tokens.size(), -1.0f);
  std::vector<int32_t> types(tokens.size(), 1);
  vocab.set("general.architecture", Value::from_string("llama"));
  vocab.set("tokenizer.ggml.model", Value::from_string("llama"));
  vocab.set("tokenizer.ggml.tokens", Value::from_string_array(tokens));
  vocab.set("tokenizer.ggml.scores", Value::from_f32_array(scores));
  vocab.set("tokenizer.ggml.token_type", Value::from_i32_array(types));
  vocab.set("tokenizer.ggml.bos_token_id", Value::from_u32(1));
  emit("vocab.gguf", vocab);

  Writer f32;
  ASSERT_TRUE(f32.add_tensor("a", quant::Type::F32, {4}, counting_fill()).ok());
  ASSERT_TRUE(f32.add_tensor("b", quant::Type::F32, {3, 2}, counting_fill()).ok());
  emit("tensors_f32.gguf", f32);

  Writer quant_types;
  quant_types.set("general.architecture", Value::from_string("test"));
  ASSERT_TRUE(quant_types.add_tensor("q4_0", quant::Type::Q4_0, {32, 2}, counting_fill()).ok());
  ASSERT_TRUE(quant_types.add_tensor("q8_0", quant::Type::Q8_0, {64}, counting_fill()).ok());
  ASSERT_TRUE(quant_types.add_tensor("q4_K", quant::Type::Q4_K, {256}, counting_fill()).ok());
  ASSERT_TRUE(quant_types.add_tensor("f16", quant::Type::F16, {2, 2, 2, 2}, counting_fill()).ok());
  emit("tensors_quant.gguf", quant_types);

  for (uint64_t alignment : {uint64_t{1}, uint64_t{64}}) {
    Writer w;
    w.set_alignment(alignment);
    ASSERT_TRUE(w.add_tensor("x", quant::Type::F16, {5}, counting_fill()).ok());
    ASSERT_TRUE(w.add_tensor("y", quant::Type::I8, {3}, counting_fill()).ok());
    emit(alignment == 1 ? "align1.gguf" : "align64.gguf", w);
  }

  Writer model;
  model.set("general.architecture", Value::from_string("llama"));
  model.set("llama.block_count", Value::from_u32(1));
  model.set("llama.embedding_length", Value::from_u32(32));
  model.set("llama.attention.head_count", Value::from_u32(2));
  model.set("llama.attention.layer_norm_rms_epsilon", Value::from_f32(1e-5f));
  ASSERT_TRUE(
      model.add_tensor("token_embd.weight", quant::Type::Q8_0, {32, 8}, counting_fill()).ok());
  ASSERT_TRUE(
      model.add_tensor("blk.0.attn_norm.weight", quant::Type::F32, {32}, counting_fill()).ok());
  ASSERT_TRUE(
      model.add_tensor("blk.0.attn_q.weight", quant::Type::F16, {32, 32}, counting_fill()).ok());
  ASSERT_TRUE(model.add_tensor("output_norm.weight", quant::Type::F32, {32}, counting_fill()).ok());
  emit("tiny_model.gguf", model);

  GgufBytes v2;
  v2.header(1, 1, 2)
      .kv_u32("general.alignment", 16)
      .tensor_info("t", {4}, 0, 0)
      .pad_to(16)
      .zeros(16);
  write_bytes(dir / "version2.gguf", v2.bytes);
  ASSERT_TRUE(v2.parse().ok());
}

void write_invalid(const std::filesystem::path& dir) {
  auto emit = [&](const char* name, const GgufBytes& b) {
    ASSERT_FALSE(b.parse().ok()) << name;
    write_bytes(dir / name, b.bytes);
  };
  GgufBytes magic;
  magic.raw("GGML", 4).u32(3).zeros(16);
  emit("bad_magic.gguf", magic);

  GgufBytes v1;
  v1.header(0, 0, 1);
  emit("version1.gguf", v1);

  GgufBytes big_endian;
  big_endian.raw("GGUF\0\0\0\3", 8).zeros(16);
  emit("big_endian.gguf", big_endian);

  GgufBytes huge_count;
  huge_count.header(0, ~uint64_t{0}).kv_u32("a", 1);
  emit("huge_kv_count.gguf", huge_count);

  GgufBytes huge_array;
  huge_array.header(0, 1).str("a").u32(static_cast<uint32_t>(ValueType::kArray));
  huge_array.u32(static_cast<uint32_t>(ValueType::kString)).u64(uint64_t{1} << 61).zeros(16);
  emit("huge_array_count.gguf", huge_array);

  GgufBytes deep;
  deep.header(0, 1).str("deep").u32(static_cast<uint32_t>(ValueType::kArray));
  for (int i = 0; i < kMaxArrayDepth; ++i)
    deep.u32(static_cast<uint32_t>(ValueType::kArray)).u64(1);
  deep.u32(static_cast<uint32_t>(ValueType::kUint8)).u64(0);
  emit("deep_nesting.gguf", deep);

  GgufBytes overlap;
  overlap.header(2, 0)
      .tensor_info("a", {16}, 0, 0)
      .tensor_info("b", {8}, 0, 32)
      .pad_to(32)
      .zeros(96);
  emit("overlap.gguf", overlap);

  GgufBytes misaligned;
  misaligned.header(1, 0).tensor_info("a", {4}, 0, 8).pad_to(32).zeros(32);
  emit("misaligned.gguf", misaligned);

  GgufBytes unknown_type;
  unknown_type.header(1, 0).tensor_info("a", {32}, 31, 0).pad_to(32).zeros(64);
  emit("unknown_type.gguf", unknown_type);

  GgufBytes dims;
  dims.header(1, 0)
      .tensor_info("a", {uint64_t{1} << 40, uint64_t{1} << 40}, 0, 0)
      .pad_to(32)
      .zeros(32);
  emit("dims_overflow.gguf", dims);

  GgufBytes duplicate;
  duplicate.header(0, 2).kv_u32("k", 1).kv_string("k", "again");
  emit("duplicate_key.gguf", duplicate);
}

TEST(GgufSeedCorpus, DISABLED_Generate) {
  const char* out = std::getenv("STRATA_GGUF_CORPUS_OUT");
  if (out == nullptr || *out == 0)
    GTEST_SKIP() << "set STRATA_GGUF_CORPUS_OUT to the output folder";
  const std::filesystem::path dir = out;
  std::filesystem::create_directories(dir);
  write_valid(dir);
  write_invalid(dir);
  // A valid model cut in the middle of its tensor table.
  const auto model = read_bytes(dir / "tiny_model.gguf");
  write_bytes(dir / "truncated.gguf", std::vector<uint8_t>(model.begin(), model.begin() + 400));
  ASSERT_FALSE(File::open(dir / "truncated.gguf").ok());
}

}  // namespace
}  // namespace strata::gguf
