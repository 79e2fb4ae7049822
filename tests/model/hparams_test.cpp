// read_hparams on GGUF files built with gguf::Writer: llama and qwen2, GQA, defaults, bad values.
#include "model/hparams.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gguf/writer.h"
#include "support/fixtures.h"
#include "support/temp_dir.h"

namespace strata::model {
namespace {

using gguf::Value;

gguf::TensorFill zeros() {
  return [](std::span<uint8_t> out, uint64_t, uint64_t) {
    std::memset(out.data(), 0, out.size());
    return Status{};
  };
}

// A small model's metadata; tests change or drop keys before writing.
class HParamsTest : public ::testing::Test {
 protected:
  // `skip` names one required key (without the arch prefix) to leave out.
  void set_llama_like(const std::string& arch, std::string_view skip = "") {
    const std::string p = arch + ".";
    writer_.set("general.architecture", Value::from_string(arch));
    writer_.set("general.name", Value::from_string("test-" + arch));
    const std::pair<const char*, uint32_t> required[] = {
        {"context_length", 2048}, {"embedding_length", 256}, {"block_count", 3},
        {"feed_forward_length", 688}, {"attention.head_count", 4}};
    for (const auto& [key, value] : required) {
      if (key != skip) writer_.set(p + key, Value::from_u32(value));
    }
    writer_.set(p + "attention.layer_norm_rms_epsilon", Value::from_f32(1e-6f));
    writer_.set(p + "rope.freq_base", Value::from_f32(500000.0f));
  }
  void add_tensor(const std::string& name, std::vector<uint64_t> ne) {
    ASSERT_TRUE(writer_.add_tensor(name, quant::Type::F32, std::move(ne), zeros()).ok());
  }
  Result<HParams> read() {
    const auto path = dir_ / "model.gguf";
    Status written = writer_.write(path);
    if (!written.ok()) return written;
    STRATA_ASSIGN_OR_RETURN(file_, gguf::File::open(path));
    return read_hparams(*file_);
  }
  // The read must fail with a message containing every one of `parts`.
  void expect_error(std::initializer_list<std::string> parts) {
    auto result = read();
    ASSERT_FALSE(result.ok()) << "expected an error";
    for (const std::string& part : parts) {
      EXPECT_NE(result.status().message().find(part), std::string::npos)
          << "'" << part << "' not in: " << result.status().message();
    }
  }

  strata::testing::TempDir dir_;
  gguf::Writer writer_;
  std::optional<gguf::File> file_;
};

TEST_F(HParamsTest, LlamaWithDefaults) {
  set_llama_like("llama");
  writer_.set("llama.vocab_size", Value::from_u32(300));
  add_tensor("output.weight", {256, 300});
  auto hp = read();
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp->arch, Arch::kLlama);
  EXPECT_EQ(hp->name, "test-llama");
  EXPECT_EQ(hp->n_ctx_train, 2048u);
  EXPECT_EQ(hp->n_embd, 256u);
  EXPECT_EQ(hp->n_layer, 3u);
  EXPECT_EQ(hp->n_ff, 688u);
  EXPECT_EQ(hp->n_head, 4u);
  EXPECT_EQ(hp->n_head_kv, 4u);    // defaults to n_head
  EXPECT_EQ(hp->head_dim_k, 64u);  // n_embd / n_head
  EXPECT_EQ(hp->head_dim_v, 64u);
  EXPECT_EQ(hp->rope_dim, 64u);
  EXPECT_FLOAT_EQ(hp->rms_norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(hp->rope_freq_base, 500000.0f);
  EXPECT_EQ(hp->rope_type, RopeType::kNormal);
  EXPECT_EQ(hp->n_vocab, 300u);
  EXPECT_FALSE(hp->tied_embeddings);
  EXPECT_EQ(hp->n_embd_k_gqa(), 256u);
}

TEST_F(HParamsTest, OptionalKeysDefault) {
  // Without epsilon and freq base, llama.cpp's defaults apply.
  writer_.set("general.architecture", Value::from_string("llama"));
  writer_.set("llama.context_length", Value::from_u32(512));
  writer_.set("llama.embedding_length", Value::from_u32(128));
  writer_.set("llama.block_count", Value::from_u32(1));
  writer_.set("llama.feed_forward_length", Value::from_u32(256));
  writer_.set("llama.attention.head_count", Value::from_u32(2));
  writer_.set("llama.vocab_size", Value::from_u32(10));
  auto hp = read();
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp->name, "");
  EXPECT_FLOAT_EQ(hp->rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(hp->rope_freq_base, 10000.0f);
  EXPECT_EQ(hp->rope_dim, 64u);
  EXPECT_TRUE(hp->tied_embeddings);  // no output.weight
}

TEST_F(HParamsTest, Qwen2IsNeoxWithGqa) {
  set_llama_like("qwen2");
  writer_.set("qwen2.attention.head_count_kv", Value::from_u32(2));
  writer_.set("tokenizer.ggml.tokens", Value::from_string_array({"a", "b", "c", "d", "e"}));
  writer_.set("qwen2.vocab_size", Value::from_u32(999));  // the token list wins
  auto hp = read();
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp->arch, Arch::kQwen2);
  EXPECT_EQ(hp->rope_type, RopeType::kNeox);
  EXPECT_EQ(hp->n_head_kv, 2u);
  EXPECT_EQ(hp->n_embd_k_gqa(), 128u);
  EXPECT_EQ(hp->n_embd_v_gqa(), 128u);
  EXPECT_EQ(hp->n_vocab, 5u);
}

TEST_F(HParamsTest, ExplicitHeadDimsAndRopeDims) {
  set_llama_like("llama");
  writer_.set("llama.attention.head_count_kv", Value::from_u32(1));
  writer_.set("llama.attention.key_length", Value::from_u32(128));
  writer_.set("llama.attention.value_length", Value::from_u32(96));
  writer_.set("llama.rope.dimension_count", Value::from_u32(64));
  writer_.set("llama.vocab_size", Value::from_u32(10));
  auto hp = read();
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp->head_dim_k, 128u);
  EXPECT_EQ(hp->head_dim_v, 96u);
  EXPECT_EQ(hp->rope_dim, 64u);
  EXPECT_EQ(hp->n_embd_k_gqa(), 128u);
  EXPECT_EQ(hp->n_embd_v_gqa(), 96u);
}

TEST_F(HParamsTest, VocabFromTokenEmbeddingRows) {
  set_llama_like("llama");
  add_tensor("token_embd.weight", {256, 77});
  auto hp = read();
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp->n_vocab, 77u);
  EXPECT_TRUE(hp->tied_embeddings);
}

TEST_F(HParamsTest, PerLayerArrayWithOneValueIsAccepted) {
  set_llama_like("llama");
  writer_.set("llama.vocab_size", Value::from_u32(10));
  writer_.set("llama.attention.head_count_kv", Value::from_i32_array({2, 2, 2}));
  auto hp = read();
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp->n_head_kv, 2u);
}

TEST_F(HParamsTest, PerLayerArrayThatVariesIsRefused) {
  set_llama_like("llama");
  writer_.set("llama.vocab_size", Value::from_u32(10));
  writer_.set("llama.feed_forward_length", Value::from_i32_array({688, 1024, 688}));
  expect_error({"llama.feed_forward_length", "varies per layer"});
}

TEST_F(HParamsTest, MissingArchitecture) {
  writer_.set("general.name", Value::from_string("vocab only"));
  expect_error({"general.architecture", "missing", "llama, qwen2"});
}

TEST_F(HParamsTest, UnknownArchitectureListsSupported) {
  set_llama_like("gemma3");
  auto result = read();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(result.status().message().find("'gemma3'"), std::string::npos) << result.status().message();
  EXPECT_NE(result.status().message().find("llama, qwen2"), std::string::npos) << result.status().message();
}

TEST_F(HParamsTest, ArchitectureNotAString) {
  writer_.set("general.architecture", Value::from_u32(7));
  expect_error({"general.architecture", "7", "expected a string"});
}

TEST_F(HParamsTest, MissingRequiredKeys) {
  for (const char* key : {"context_length", "embedding_length", "block_count", "feed_forward_length",
                          "attention.head_count"}) {
    SCOPED_TRACE(key);
    writer_ = gguf::Writer();
    set_llama_like("llama", key);
    writer_.set("llama.vocab_size", Value::from_u32(10));
    expect_error({std::string("llama.") + key, "missing"});
  }
}

TEST_F(HParamsTest, ZeroValues) {
  for (const char* key : {"llama.block_count", "llama.embedding_length", "llama.attention.head_count",
                          "llama.context_length", "llama.feed_forward_length", "llama.attention.head_count_kv"}) {
    SCOPED_TRACE(key);
    writer_ = gguf::Writer();
    set_llama_like("llama");
    writer_.set("llama.vocab_size", Value::from_u32(10));
    writer_.set(key, Value::from_u32(0));
    expect_error({key, "is 0", "at least 1"});
  }
}

TEST_F(HParamsTest, KvHeadsMustDivideHeads) {
  set_llama_like("llama");
  writer_.set("llama.vocab_size", Value::from_u32(10));
  writer_.set("llama.attention.head_count_kv", Value::from_u32(3));
  expect_error({"llama.attention.head_count_kv is 3", "head_count 4"});
}

TEST_F(HParamsTest, HeadsMustDivideEmbeddingWithoutKeyLength) {
  set_llama_like("llama");
  writer_.set("llama.vocab_size", Value::from_u32(10));
  writer_.set("llama.attention.head_count", Value::from_u32(5));
  expect_error({"embedding_length 256", "head_count 5"});
}

TEST_F(HParamsTest, WrongTypes) {
  set_llama_like("llama");
  writer_.set("llama.vocab_size", Value::from_u32(10));
  writer_.set("llama.block_count", Value::from_string("32"));
  expect_error({"llama.block_count", "string", "expected an unsigned integer"});

  writer_ = gguf::Writer();
  set_llama_like("llama");
  writer_.set("llama.vocab_size", Value::from_u32(10));
  writer_.set("llama.block_count", Value::from_i32(-2));
  expect_error({"llama.block_count", "-2"});

  writer_ = gguf::Writer();
  set_llama_like("llama");
  writer_.set("llama.vocab_size", Value::from_u32(10));
  writer_.set("llama.rope.freq_base", Value::from_string("high"));
  expect_error({"llama.rope.freq_base", "expected a number"});
}

TEST_F(HParamsTest, TooLargeForU32) {
  set_llama_like("llama");
  writer_.set("llama.vocab_size", Value::from_u32(10));
  writer_.set("llama.context_length", Value::from_u64(uint64_t{1} << 40));
  expect_error({"llama.context_length", "1099511627776", "4294967295"});
}

TEST_F(HParamsTest, BadFloats) {
  set_llama_like("llama");
  writer_.set("llama.vocab_size", Value::from_u32(10));
  writer_.set("llama.attention.layer_norm_rms_epsilon", Value::from_f32(-1.0f));
  expect_error({"layer_norm_rms_epsilon is -1"});

  writer_ = gguf::Writer();
  set_llama_like("llama");
  writer_.set("llama.vocab_size", Value::from_u32(10));
  writer_.set("llama.rope.freq_base", Value::from_f32(0.0f));
  expect_error({"rope.freq_base is 0"});
}

TEST_F(HParamsTest, BadRopeDims) {
  set_llama_like("llama");
  writer_.set("llama.vocab_size", Value::from_u32(10));
  writer_.set("llama.rope.dimension_count", Value::from_u32(65));
  expect_error({"rope.dimension_count is 65", "head dim 64"});
}

TEST_F(HParamsTest, NoVocabularySize) {
  set_llama_like("llama");
  expect_error({"vocabulary size unknown", "tokenizer.ggml.tokens", "llama.vocab_size", "token_embd.weight"});
}

TEST_F(HParamsTest, EmptyTokenList) {
  set_llama_like("llama");
  writer_.set("tokenizer.ggml.tokens", Value::from_string_array({}));
  expect_error({"tokenizer.ggml.tokens is empty"});
}

TEST(ArchNames, RoundTrip) {
  EXPECT_EQ(arch_name(Arch::kLlama), "llama");
  EXPECT_EQ(arch_name(Arch::kQwen2), "qwen2");
  EXPECT_EQ(*arch_from_name("llama"), Arch::kLlama);
  EXPECT_EQ(*arch_from_name("qwen2"), Arch::kQwen2);
  EXPECT_FALSE(arch_from_name("Llama").ok());
  EXPECT_FALSE(arch_from_name("").ok());
}

TEST(HParamsFixtures, TinyLlamaHd128) {
  STRATA_REQUIRE_FIXTURES();
  auto file = gguf::File::open(strata::testing::fixtures_dir() / "models" / "tiny-llama-hd128.gguf");
  ASSERT_TRUE(file.ok()) << file.status().message();
  auto hp = read_hparams(*file);
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp->arch, Arch::kLlama);
  EXPECT_EQ(hp->name, "strata-synth-tiny-llama-hd128");
  EXPECT_EQ(hp->n_vocab, 32000u);
  EXPECT_EQ(hp->n_ctx_train, 4096u);
  EXPECT_EQ(hp->n_embd, 256u);
  EXPECT_EQ(hp->n_layer, 2u);
  EXPECT_EQ(hp->n_ff, 512u);
  EXPECT_EQ(hp->n_head, 2u);
  EXPECT_EQ(hp->n_head_kv, 1u);
  EXPECT_EQ(hp->head_dim_k, 128u);
  EXPECT_EQ(hp->head_dim_v, 128u);
  EXPECT_EQ(hp->rope_dim, 128u);
  EXPECT_FLOAT_EQ(hp->rope_freq_base, 10000.0f);
  EXPECT_FLOAT_EQ(hp->rms_norm_eps, 1e-5f);
  EXPECT_FALSE(hp->tied_embeddings);
  EXPECT_EQ(hp->n_embd_k_gqa(), 128u);
}

// Vocabulary-only GGUFs carry an architecture and its hyperparameters but no tensors.
TEST(HParamsFixtures, VocabularyFilesHaveHParams) {
  STRATA_REQUIRE_FIXTURES();
  auto file = gguf::File::open(strata::testing::fixtures_dir() / "tokenizer" / "ggml-vocab-llama-spm.gguf");
  ASSERT_TRUE(file.ok()) << file.status().message();
  auto hp = read_hparams(*file);
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp->arch, Arch::kLlama);
  EXPECT_EQ(hp->n_vocab, 32000u);
}

}  // namespace
}  // namespace strata::model
