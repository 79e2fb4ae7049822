// `strata info`: text and --json on Writer-built files and on the tiny fixture model.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gguf/writer.h"
#include "support/fixtures.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using gguf::Value;
using nlohmann::json;
using strata::testing::CommandResult;

CommandResult strata_info(const fs::path& path, const std::string& args = "") {
  return strata::testing::run_command("'" + strata::testing::strata_binary().string() + "' info '" +
                                      path.string() + "' " + args);
}

json info_json(const fs::path& path, const std::string& args = "") {
  const CommandResult result = strata_info(path, "--json " + args);
  EXPECT_EQ(result.exit_code, 0) << result.output;
  json j = json::parse(result.output, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not one JSON object: " << result.output;
  return j;
}

// Lines of text output as "label   value" with the label column removed.
bool has_line(const std::string& text, const std::string& label, const std::string& value_part) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    if (line.rfind(label, 0) == 0 && line.find(value_part) != std::string::npos) return true;
    start = end + 1;
  }
  return false;
}

void expect_one_line_error(const CommandResult& result, std::initializer_list<std::string> parts) {
  SCOPED_TRACE(result.output);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1);
  for (const std::string& part : parts) EXPECT_NE(result.output.find(part), std::string::npos) << part;
}

gguf::TensorFill filled() {
  return [](std::span<uint8_t> out, uint64_t, uint64_t) {
    std::memset(out.data(), 0, out.size());
    return Status{};
  };
}

// A 2-layer llama: n_embd 256, 4 heads of 64, 2 KV heads, n_ff 512, vocab 64, context 2048.
struct ModelSpec {
  std::string arch = "llama";
  uint32_t n_embd = 256;
  uint32_t n_head = 4;
  uint32_t n_head_kv = 2;
  uint32_t n_ctx = 2048;
  bool tokenizer = true;
  bool chat_template = true;
};

fs::path write_model(const fs::path& path, const ModelSpec& spec) {
  gguf::Writer w;
  const std::string p = spec.arch + ".";
  w.set("general.architecture", Value::from_string(spec.arch));
  w.set("general.name", Value::from_string("info test model"));
  w.set(p + "context_length", Value::from_u32(spec.n_ctx));
  w.set(p + "embedding_length", Value::from_u32(spec.n_embd));
  w.set(p + "block_count", Value::from_u32(2));
  w.set(p + "feed_forward_length", Value::from_u32(512));
  w.set(p + "attention.head_count", Value::from_u32(spec.n_head));
  w.set(p + "attention.head_count_kv", Value::from_u32(spec.n_head_kv));
  w.set(p + "attention.layer_norm_rms_epsilon", Value::from_f32(1e-5f));
  w.set(p + "rope.freq_base", Value::from_f32(10000.0f));
  if (spec.tokenizer) {
    std::vector<std::string> tokens;
    for (int i = 0; i < 64; ++i) tokens.push_back(fmt::format("t{}", i));
    w.set("tokenizer.ggml.model", Value::from_string("gpt2"));
    w.set("tokenizer.ggml.pre", Value::from_string("default"));
    w.set("tokenizer.ggml.tokens", Value::from_string_array(std::move(tokens)));
  } else {
    w.set(p + "vocab_size", Value::from_u32(64));
  }
  if (spec.chat_template) {
    w.set("tokenizer.chat_template", Value::from_string("{% for m in messages %}{{ m.content }}{% endfor %}"));
  }
  const uint64_t kv_dim = uint64_t{spec.n_embd} / spec.n_head * spec.n_head_kv;
  EXPECT_TRUE(w.add_tensor("token_embd.weight", quant::Type::Q8_0, {spec.n_embd, 64}, filled()).ok());
  EXPECT_TRUE(w.add_tensor("output_norm.weight", quant::Type::F32, {spec.n_embd}, filled()).ok());
  for (int layer = 0; layer < 2; ++layer) {
    const std::string b = "blk." + std::to_string(layer) + ".";
    EXPECT_TRUE(w.add_tensor(b + "attn_norm.weight", quant::Type::F32, {spec.n_embd}, filled()).ok());
    EXPECT_TRUE(w.add_tensor(b + "attn_q.weight", quant::Type::F16, {spec.n_embd, spec.n_embd}, filled()).ok());
    EXPECT_TRUE(w.add_tensor(b + "attn_k.weight", quant::Type::F16, {spec.n_embd, kv_dim}, filled()).ok());
  }
  EXPECT_TRUE(w.write(path).ok());
  return path;
}

class InfoTest : public ::testing::Test {
 protected:
  strata::testing::TempDir dir_;
};

TEST_F(InfoTest, TextDescribesTheModel) {
  const fs::path path = write_model(dir_ / "m.gguf", {});
  const CommandResult r = strata_info(path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string& t = r.output;
  EXPECT_TRUE(has_line(t, "file", path.string())) << t;
  EXPECT_TRUE(has_line(t, "file", "GGUF v3")) << t;
  EXPECT_TRUE(has_line(t, "arch", "llama  (name: info test model)")) << t;
  EXPECT_TRUE(has_line(t, "context", "2048")) << t;
  EXPECT_TRUE(has_line(t, "layers", "2")) << t;
  EXPECT_TRUE(has_line(t, "embedding", "256, feed-forward 512")) << t;
  EXPECT_TRUE(has_line(t, "heads", "4 query, 2 KV (GQA 2:1), head dim K 64 / V 64")) << t;
  EXPECT_TRUE(has_line(t, "rope", "normal")) << t;
  EXPECT_TRUE(has_line(t, "vocab", "64")) << t;
  EXPECT_TRUE(has_line(t, "output", "tied to token_embd.weight")) << t;
  EXPECT_TRUE(has_line(t, "tokenizer", "gpt2 (pre: default), 64 tokens")) << t;
  EXPECT_TRUE(has_line(t, "chat tmpl", "present")) << t;
  EXPECT_TRUE(has_line(t, "tensors", "8,")) << t;
  // Type table rows: f32 x3, f16 x4, q8_0 x1.
  EXPECT_TRUE(has_line(t, "            f32", "3")) << t;
  EXPECT_TRUE(has_line(t, "            f16", "4")) << t;
  EXPECT_TRUE(has_line(t, "            q8_0", "1")) << t;
  // KV at the default -c min(2048, 4096): 2048 cells x 2 layers x 128 values x 2 bytes = 1 MiB each.
  EXPECT_TRUE(has_line(t, "            KV cache", "2.0 MiB")) << t;
  EXPECT_TRUE(has_line(t, "            KV cache", "-c 2048 (-np 1: 2048 per sequence), K f16 1.0 MiB, V f16 1.0 MiB"))
      << t;
  EXPECT_TRUE(has_line(t, "memory", "weights")) << t;
  EXPECT_TRUE(has_line(t, "            total", "MiB")) << t;
}

TEST_F(InfoTest, JsonHasTheSameFacts) {
  const fs::path path = write_model(dir_ / "m.gguf", {});
  const json j = info_json(path);
  EXPECT_EQ(j["file"]["path"], path.string());
  EXPECT_EQ(j["file"]["size_bytes"], fs::file_size(path));
  EXPECT_EQ(j["file"]["gguf_version"], 3);
  EXPECT_EQ(j["architecture"], "llama");
  EXPECT_EQ(j["architecture_supported"], true);
  EXPECT_EQ(j["name"], "info test model");
  const json& hp = j["hparams"];
  EXPECT_EQ(hp["n_ctx_train"], 2048);
  EXPECT_EQ(hp["n_embd"], 256);
  EXPECT_EQ(hp["n_layer"], 2);
  EXPECT_EQ(hp["n_ff"], 512);
  EXPECT_EQ(hp["n_head"], 4);
  EXPECT_EQ(hp["n_head_kv"], 2);
  EXPECT_EQ(hp["head_dim_k"], 64);
  EXPECT_EQ(hp["n_vocab"], 64);
  EXPECT_EQ(hp["rope_type"], "normal");
  EXPECT_EQ(hp["tied_embeddings"], true);
  EXPECT_EQ(j["tokenizer"]["model"], "gpt2");
  EXPECT_EQ(j["tokenizer"]["n_vocab"], 64);
  EXPECT_EQ(j["chat_template"], true);

  // token_embd q8_0 256x64: 8 blocks x 34 x 64 rows = 17408; f32 norms 3 x 1024; f16 q 2 x 131072,
  // k 2 x 65536 (256 x 128 x 2).
  const uint64_t weights = 17408 + 3 * 1024 + 2 * 131072 + 2 * 65536;
  EXPECT_EQ(j["tensors"]["count"], 8);
  EXPECT_EQ(j["tensors"]["bytes"], weights);
  EXPECT_EQ(j["n_params"], 256 * 64 + 3 * 256 + 2 * 256 * 256 + 2 * 256 * 128);
  ASSERT_EQ(j["tensors"]["by_type"].size(), 3u);
  EXPECT_EQ(j["tensors"]["by_type"][0], json({{"type", "f32"}, {"count", 3}, {"bytes", 3072}}));
  EXPECT_EQ(j["tensors"]["by_type"][1], json({{"type", "f16"}, {"count", 4}, {"bytes", 393216}}));
  EXPECT_EQ(j["tensors"]["by_type"][2], json({{"type", "q8_0"}, {"count", 1}, {"bytes", 17408}}));

  const json& kv = j["memory"]["kv"];
  EXPECT_EQ(kv["n_ctx"], 2048);
  EXPECT_EQ(kv["n_seq"], 1);
  EXPECT_EQ(kv["type_k"], "f16");
  EXPECT_EQ(kv["k_bytes"], 2048 * 2 * 128 * 2);
  EXPECT_EQ(kv["bytes"], 2 * 2048 * 2 * 128 * 2);
  EXPECT_EQ(j["memory"]["weights_bytes"], weights);
  EXPECT_EQ(j["memory"]["total_bytes"], weights + 2 * 2048 * 2 * 128 * 2);
}

TEST_F(InfoTest, KvOptionsShortAndLongForms) {
  const fs::path path = write_model(dir_ / "m.gguf", {});
  // 8192 cells x 2 layers; a 128-value row is 4 blocks: q8_0 136 bytes, q4_0 72 bytes.
  for (const std::string args : {"-c 8192 -ctk q8_0 -ctv Q4_0 -np 4",
                                 "--ctx-size 8192 --cache-type-k q8_0 --cache-type-v q4_0 --parallel 4",
                                 "--ctx-size=8192 -ctk Q8_0 --cache-type-v=q4_0 -np 4"}) {
    SCOPED_TRACE(args);
    const json kv = info_json(path, args)["memory"]["kv"];
    EXPECT_EQ(kv["n_ctx"], 8192);
    EXPECT_EQ(kv["n_seq"], 4);
    EXPECT_EQ(kv["n_ctx_per_seq"], 2048);
    EXPECT_EQ(kv["type_k"], "q8_0");
    EXPECT_EQ(kv["type_v"], "q4_0");
    EXPECT_EQ(kv["k_bytes"], 8192 * 2 * 136);
    EXPECT_EQ(kv["v_bytes"], 8192 * 2 * 72);
  }
  // Options before the file, too.
  const CommandResult r = strata::testing::run_command("'" + strata::testing::strata_binary().string() +
                                                       "' info -ctk q8_0 -c 512 '" + path.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has_line(r.output, "            KV cache", "-c 512 (-np 1: 512 per sequence), K q8_0 136.0 KiB"))
      << r.output;
}

TEST_F(InfoTest, ZeroContextMeansTrainingContextAndLargerIsNoted) {
  const fs::path path = write_model(dir_ / "m.gguf", {});
  EXPECT_EQ(info_json(path, "-c 0")["memory"]["kv"]["n_ctx"], 2048);
  const CommandResult r = strata_info(path, "-c 8192");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has_line(r.output, "            KV cache", "over the training context 2048")) << r.output;
}

TEST_F(InfoTest, LogLevelAfterTheCommandStillWorks) {
  const fs::path path = write_model(dir_ / "m.gguf", {});
  const CommandResult r = strata_info(path, "--log-level warn -ctk f32");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const CommandResult bad = strata_info(path, "--log-level loud");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
}

TEST_F(InfoTest, BadCacheTypeNameListsValidOnes) {
  const fs::path path = write_model(dir_ / "m.gguf", {});
  expect_one_line_error(strata_info(path, "-ctk q4_K"),
                        {"'q4_K' is not a KV cache type", "f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl"});
  expect_one_line_error(strata_info(path, "--cache-type-v fp8"), {"'fp8'"});
}

TEST_F(InfoTest, CacheTypeThatDoesNotFitHeadDimListsWhatWorks) {
  ModelSpec spec;
  spec.n_embd = 320;  // 4 heads of 80
  const fs::path path = write_model(dir_ / "hd80.gguf", spec);
  EXPECT_EQ(strata_info(path, "-ctk bf16").exit_code, 0);
  expect_one_line_error(strata_info(path, "-ctk q8_0"),
                        {"K cache type q8_0", "multiple of 32", "80", "types that work for head dim 80: f32, f16, bf16"});
  expect_one_line_error(strata_info(path, "-ctv iq4_nl"), {"V cache type iq4_nl", "f32, f16, bf16"});
}

TEST_F(InfoTest, ContextSmallerThanParallelIsRefused) {
  const fs::path path = write_model(dir_ / "m.gguf", {});
  expect_one_line_error(strata_info(path, "-c 2 -np 4"), {"-c 2", "-np 4", "-c 4 or more"});
  expect_one_line_error(strata_info(path, "-np 0"), {"-np 0"});
  expect_one_line_error(strata_info(path, "-c -5"), {"-c -5"});
  expect_one_line_error(strata_info(path, "-c many"), {"--ctx-size", "many"});
}

TEST_F(InfoTest, BadArguments) {
  const fs::path path = write_model(dir_ / "m.gguf", {});
  expect_one_line_error(strata_info(path, "--bogus"), {});
  expect_one_line_error(strata_info(path, "-xyz"), {"strata info: error:", "-xyz"});
  expect_one_line_error(strata_info(path, "other.gguf"), {"other.gguf", "not expected"});
  expect_one_line_error(strata_info(path, "-ctk"), {"--cache-type-k", "missing"});
  expect_one_line_error(strata::testing::run_command("'" + strata::testing::strata_binary().string() + "' info"),
                        {"FILE is required", "strata info --help"});
}

TEST_F(InfoTest, Qwen2IsNeox) {
  ModelSpec spec;
  spec.arch = "qwen2";
  spec.chat_template = false;
  const fs::path path = write_model(dir_ / "q.gguf", spec);
  const CommandResult r = strata_info(path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has_line(r.output, "arch", "qwen2")) << r.output;
  EXPECT_TRUE(has_line(r.output, "rope", "neox")) << r.output;
  EXPECT_TRUE(has_line(r.output, "chat tmpl", "absent")) << r.output;
  EXPECT_EQ(info_json(path)["chat_template"], false);
}

TEST_F(InfoTest, UnknownArchitectureStillDescribesTheFile) {
  ModelSpec spec;
  spec.arch = "gemma3";
  const fs::path path = write_model(dir_ / "g.gguf", spec);
  const CommandResult r = strata_info(path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has_line(r.output, "arch", "architecture 'gemma3' is not supported")) << r.output;
  EXPECT_TRUE(has_line(r.output, "arch", "llama, qwen2")) << r.output;
  EXPECT_TRUE(has_line(r.output, "tensors", "8,")) << r.output;
  EXPECT_EQ(r.output.find("KV cache"), std::string::npos) << r.output;
  const json j = info_json(path);
  EXPECT_EQ(j["architecture"], "gemma3");
  EXPECT_EQ(j["architecture_supported"], false);
  EXPECT_TRUE(j["hparams"].is_null());
  EXPECT_TRUE(j["memory"]["kv"].is_null());
  EXPECT_EQ(j["memory"]["total_bytes"], j["memory"]["weights_bytes"]);
}

TEST_F(InfoTest, InvalidHParamsAreReportedNotFatal) {
  ModelSpec spec;
  spec.n_head_kv = 3;  // does not divide 4 heads
  const fs::path path = write_model(dir_ / "bad.gguf", spec);
  const CommandResult r = strata_info(path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has_line(r.output, "hparams", "invalid: llama.attention.head_count_kv is 3")) << r.output;
  EXPECT_EQ(r.output.find("KV cache"), std::string::npos) << r.output;
  EXPECT_NE(info_json(path)["hparams_error"].get<std::string>().find("head_count_kv"), std::string::npos);
}

TEST_F(InfoTest, VocabularyOnlyFile) {
  gguf::Writer w;
  w.set("tokenizer.ggml.model", Value::from_string("llama"));
  w.set("tokenizer.ggml.tokens", Value::from_string_array({"<unk>", "<s>", "</s>"}));
  const fs::path path = dir_ / "vocab.gguf";
  ASSERT_TRUE(w.write(path).ok());
  const CommandResult r = strata_info(path, "-ctk q8_0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has_line(r.output, "arch", "absent")) << r.output;
  EXPECT_TRUE(has_line(r.output, "tokenizer", "llama, 3 tokens")) << r.output;
  EXPECT_TRUE(has_line(r.output, "tensors", "none (metadata only)")) << r.output;
  EXPECT_EQ(r.output.find("KV cache"), std::string::npos) << r.output;
  const json j = info_json(path);
  EXPECT_TRUE(j["architecture"].is_null());
  EXPECT_EQ(j["tokenizer"]["n_vocab"], 3);
  EXPECT_EQ(j["tensors"]["count"], 0);
  EXPECT_TRUE(j["memory"]["kv"].is_null());
}

TEST_F(InfoTest, BareTensorFile) {
  gguf::Writer w;
  ASSERT_TRUE(w.add_tensor("a", quant::Type::Q4_0, {64, 2}, filled()).ok());
  ASSERT_TRUE(w.add_tensor("b", quant::Type::F32, {10}, filled()).ok());
  const fs::path path = dir_ / "bare.gguf";
  ASSERT_TRUE(w.write(path).ok());
  const CommandResult r = strata_info(path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has_line(r.output, "arch", "absent")) << r.output;
  EXPECT_TRUE(has_line(r.output, "tokenizer", "absent")) << r.output;
  EXPECT_TRUE(has_line(r.output, "params", "138")) << r.output;
  const json j = info_json(path);
  EXPECT_EQ(j["tensors"]["count"], 2);
  EXPECT_EQ(j["tensors"]["bytes"], 2 * 2 * 18 + 40);
  EXPECT_EQ(j["n_params"], 138);
  EXPECT_TRUE(j["tokenizer"].is_null());
}

// The reference model: 2 layers, n_embd 256, 2 heads of 128, 1 KV head, Llama-2 vocabulary.
TEST(InfoFixture, TinyLlamaHd128) {
  STRATA_REQUIRE_FIXTURES();
  const fs::path path = strata::testing::fixtures_dir() / "models" / "tiny-llama-hd128.gguf";
  const CommandResult r = strata_info(path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(has_line(r.output, "arch", "llama  (name: strata-synth-tiny-llama-hd128)")) << r.output;
  EXPECT_TRUE(has_line(r.output, "heads", "2 query, 1 KV (GQA 2:1), head dim K 128 / V 128")) << r.output;
  EXPECT_TRUE(has_line(r.output, "tokenizer", "llama (pre: default), 32000 tokens")) << r.output;
  EXPECT_TRUE(has_line(r.output, "output", "own output.weight")) << r.output;
  EXPECT_TRUE(has_line(r.output, "params", "17.6M (17,564,928)")) << r.output;

  const json j = info_json(path);
  EXPECT_EQ(j["file"]["size_bytes"], 12305760);
  EXPECT_EQ(j["hparams"]["n_vocab"], 32000);
  EXPECT_EQ(j["hparams"]["n_ctx_train"], 4096);
  EXPECT_EQ(j["hparams"]["rms_norm_eps"], 1e-5);
  EXPECT_EQ(j["hparams"]["rope_freq_base"], 10000.0);
  EXPECT_EQ(j["tensors"]["count"], 21);
  // q4_0: 2 x 32000 rows x 144 bytes; f32: 5 x 1 KiB; f16: per layer q,o 128 KiB, k,v 64 KiB, ffn 3 x 256 KiB.
  const uint64_t q4_0 = 2 * 32000 * 144;
  const uint64_t f16 = 2 * (2 * 131072 + 2 * 65536 + 3 * 262144);
  EXPECT_EQ(j["tensors"]["by_type"][0], json({{"type", "f32"}, {"count", 5}, {"bytes", 5120}}));
  EXPECT_EQ(j["tensors"]["by_type"][1], json({{"type", "f16"}, {"count", 14}, {"bytes", f16}}));
  EXPECT_EQ(j["tensors"]["by_type"][2], json({{"type", "q4_0"}, {"count", 2}, {"bytes", q4_0}}));
  EXPECT_EQ(j["memory"]["weights_bytes"], 5120 + f16 + q4_0);
  EXPECT_EQ(j["n_params"], 2 * 256 * 32000 + 5 * 256 + f16 / 2);
  // Default -c 4096, f16: 4096 cells x 2 layers x 128 values x 2 bytes = 2 MiB each.
  EXPECT_EQ(j["memory"]["kv"]["n_ctx"], 4096);
  EXPECT_EQ(j["memory"]["kv"]["bytes"], 4 << 20);

  // head dim 128 takes every cache type; q8_0 K and q4_0 V at 4096: 4096 x 2 x (136 + 72).
  const json mixed = info_json(path, "-ctk q8_0 -ctv q4_0");
  EXPECT_EQ(mixed["memory"]["kv"]["bytes"], 4096 * 2 * (136 + 72));
}

TEST(InfoFixture, VocabularyGguf) {
  STRATA_REQUIRE_FIXTURES();
  const json j = info_json(strata::testing::fixtures_dir() / "tokenizer" / "ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(j["tokenizer"]["model"], "gpt2");
  EXPECT_EQ(j["tokenizer"]["n_vocab"], 50257);
  EXPECT_EQ(j["tensors"]["count"], 0);
}

}  // namespace
}  // namespace strata
