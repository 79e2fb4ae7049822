// Reading real GGUF files from ../shared/fixtures (skipped when the folder is absent).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "gguf/file.h"
#include "gguf/writer.h"
#include "support/fixtures.h"
#include "support/temp_dir.h"

namespace strata::gguf {
namespace {

File open_fixture(const std::string& relative) {
  const auto path = strata::testing::fixtures_dir() / relative;
  auto file = File::open(path);
  EXPECT_TRUE(file.ok()) << file.status().message();
  return file.ok() ? std::move(*file) : File();
}

TEST(GgufFixtures, LlamaSpmVocabulary) {
  STRATA_REQUIRE_FIXTURES();
  const File file = open_fixture("tokenizer/ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(file.version(), 3u);
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_EQ(file.data_offset(), file.file_size());  // no padding after the metadata
  EXPECT_EQ(file.architecture(), "llama");
  EXPECT_EQ(*file.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(*file.get_uint("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(*file.get_uint("tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(*file.get_uint("tokenizer.ggml.unknown_token_id"), 0u);

  auto tokens = file.get_array("tokenizer.ggml.tokens", ValueType::kString);
  ASSERT_TRUE(tokens.ok()) << tokens.status().message();
  ASSERT_EQ((*tokens)->array_size(), 32000u);
  const auto& strings = *(*tokens)->strings();
  EXPECT_EQ(strings[0], "<unk>");
  EXPECT_EQ(strings[1], "<s>");
  EXPECT_EQ(strings[2], "</s>");
  EXPECT_EQ(strings[3], "<0x00>");

  const Value* scores = file.find("tokenizer.ggml.scores");
  ASSERT_NE(scores, nullptr);
  EXPECT_EQ(scores->array_type(), ValueType::kFloat32);
  EXPECT_EQ(scores->to_f32_vector()->size(), 32000u);
  const Value* types = file.find("tokenizer.ggml.token_type");
  ASSERT_NE(types, nullptr);
  const auto type_ids = types->to_i64_vector();
  ASSERT_TRUE(type_ids.has_value());
  EXPECT_EQ(type_ids->size(), 32000u);
  EXPECT_EQ((*type_ids)[0], 2);  // <unk> is UNKNOWN
  EXPECT_EQ((*type_ids)[1], 3);  // <s> is CONTROL
  EXPECT_EQ((*type_ids)[3], 6);  // <0x00> is BYTE
}

TEST(GgufFixtures, BpeVocabularies) {
  STRATA_REQUIRE_FIXTURES();
  const File deepseek = open_fixture("tokenizer/ggml-vocab-deepseek-llm.gguf");
  EXPECT_EQ(*deepseek.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(*deepseek.get_string("tokenizer.ggml.pre"), "deepseek-llm");
  EXPECT_EQ(deepseek.find("tokenizer.ggml.tokens")->array_size(), 102400u);
  EXPECT_EQ(deepseek.find("tokenizer.ggml.merges")->array_size(), 99757u);
  EXPECT_EQ(*deepseek.get_uint("tokenizer.ggml.bos_token_id"), 100000u);

  const File gpt2 = open_fixture("tokenizer/ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(*gpt2.get_string("tokenizer.ggml.pre"), "gpt-2");
  EXPECT_EQ(gpt2.find("tokenizer.ggml.tokens")->array_size(), 50257u);
  EXPECT_EQ(gpt2.find("tokenizer.ggml.merges")->array_size(), 50000u);
  EXPECT_EQ(*gpt2.get_uint("tokenizer.ggml.eos_token_id"), 50256u);
}

TEST(GgufFixtures, TinyLlamaTensors) {
  STRATA_REQUIRE_FIXTURES();
  const File file = open_fixture("models/tiny-llama-hd128.gguf");
  EXPECT_EQ(file.architecture(), "llama");
  EXPECT_EQ(*file.get_uint("llama.block_count"), 2u);
  EXPECT_EQ(*file.get_uint("llama.embedding_length"), 256u);
  EXPECT_EQ(*file.get_uint("llama.attention.head_count_kv"), 1u);
  EXPECT_NEAR(*file.get_number("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-12);
  EXPECT_EQ(file.find("tokenizer.ggml.tokens")->array_size(), 32000u);

  ASSERT_EQ(file.tensors().size(), 21u);  // 3 + 9 per layer
  EXPECT_EQ(file.data_offset() % file.alignment(), 0u);

  const TensorInfo* embd = file.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->type, quant::Type::Q4_0);
  EXPECT_EQ(embd->ne, (std::vector<uint64_t>{256, 32000}));
  EXPECT_EQ(embd->n_elements, 256u * 32000u);
  EXPECT_EQ(embd->n_bytes, 256u / 32u * 18u * 32000u);

  const TensorInfo* k = file.find_tensor("blk.1.attn_k.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->type, quant::Type::F16);
  EXPECT_EQ(k->ne, (std::vector<uint64_t>{256, 128}));
  EXPECT_EQ(k->n_bytes, 256u * 128u * 2u);

  const TensorInfo* down = file.find_tensor("blk.0.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->ne, (std::vector<uint64_t>{512, 256}));

  // Every tensor's data lies inside the file, past the tables, and norm weights are 1.
  for (const TensorInfo& t : file.tensors()) {
    EXPECT_GE(t.data.data(), file.bytes().data() + file.data_offset()) << t.name;
    EXPECT_LE(t.data.data() + t.data.size(), file.bytes().data() + file.file_size()) << t.name;
    EXPECT_EQ(t.data.size(), t.n_bytes);
  }
  const TensorInfo* norm = file.find_tensor("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  ASSERT_EQ(norm->type, quant::Type::F32);
  ASSERT_EQ(norm->ne, (std::vector<uint64_t>{256}));
  for (size_t i = 0; i < 256; ++i) {
    float v;
    std::memcpy(&v, norm->data.data() + i * 4, 4);
    ASSERT_EQ(v, 1.0f) << i;
  }
}

// Writing a published file back through our Writer reproduces its bytes exactly.
TEST(GgufFixtures, RewriteIsByteIdentical) {
  STRATA_REQUIRE_FIXTURES();
  for (const char* name : {"tokenizer/ggml-vocab-llama-spm.gguf", "models/tiny-llama-hd128.gguf"}) {
    const auto source = strata::testing::fixtures_dir() / name;
    const File file = open_fixture(name);
    Writer w;
    for (const auto& [key, value] : file.metadata()) w.set(key, value);
    for (const TensorInfo& t : file.tensors()) {
      const uint64_t row = t.n_bytes / (t.n_elements / t.ne[0]);
      const auto data = t.data;
      ASSERT_TRUE(w.add_tensor(t.name, t.type, t.ne,
                               [data, row](std::span<uint8_t> out, uint64_t r, uint64_t) {
                                 std::memcpy(out.data(), data.data() + r * row, out.size());
                                 return Status();
                               })
                      .ok());
    }
    strata::testing::TempDir dir;
    ASSERT_TRUE(w.write(dir / "copy.gguf").ok());
    std::ifstream a(source, std::ios::binary);
    std::ifstream b(dir / "copy.gguf", std::ios::binary);
    const std::vector<char> original{std::istreambuf_iterator<char>(a),
                                     std::istreambuf_iterator<char>()};
    const std::vector<char> copy{std::istreambuf_iterator<char>(b),
                                 std::istreambuf_iterator<char>()};
    EXPECT_EQ(original.size(), copy.size()) << name;
    EXPECT_TRUE(original == copy) << name;
  }
}

}  // namespace
}  // namespace strata::gguf
