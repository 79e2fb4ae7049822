// strata synth: metadata, tensor names/shapes/types, weight ranges, determinism, vocabularies.
#include "model/synth.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "core/content_hash.h"
#include "core/mapped_file.h"
#include "gguf/file.h"
#include "model/arch_tensors.h"
#include "model/demo_vocab.h"
#include "quant/convert.h"
#include "support/fixtures.h"
#include "support/temp_dir.h"

namespace strata::model {
namespace {

using quant::Type;

std::vector<float> read_tensor(const gguf::TensorInfo& t) {
  const uint64_t n_per_row = t.ne[0];
  const uint64_t n_rows = t.n_elements / n_per_row;
  const uint64_t row_bytes = t.n_bytes / n_rows;
  std::vector<float> values(t.n_elements);
  for (uint64_t r = 0; r < n_rows; ++r) {
    Status s = quant::dequantize_row(t.type, t.data.data() + r * row_bytes, values.data() + r * n_per_row,
                                     static_cast<int64_t>(n_per_row));
    EXPECT_TRUE(s.ok()) << t.name << ": " << s.message();
  }
  return values;
}

SynthOptions tiny_options(std::string_view type, uint64_t seed = 7) {
  SynthOptions options;
  auto hp = synth_preset("tiny", Arch::kLlama);
  EXPECT_TRUE(hp.ok());
  options.hparams = *hp;
  auto target = parse_quant_target(type);
  EXPECT_TRUE(target.ok()) << target.status().message();
  options.target = *target;
  options.seed = seed;
  options.n_threads = 2;
  return options;
}

Hash128 file_hash(const std::filesystem::path& path) {
  auto mapped = MappedFile::open(path);
  EXPECT_TRUE(mapped.ok());
  return hash_bytes(mapped->bytes());
}

uint64_t get_u(const gguf::File& f, const std::string& key) {
  auto v = f.get_uint(key);
  EXPECT_TRUE(v.ok()) << key << ": " << v.status().message();
  return v.ok() ? *v : 0;
}

struct Stats {
  double max_abs = 0, rms = 0, mean = 0;
  bool finite = true;
};
Stats stats_of(const std::vector<float>& v) {
  Stats s;
  double sum = 0, sq = 0;
  for (float x : v) {
    if (!std::isfinite(x)) s.finite = false;
    s.max_abs = std::max(s.max_abs, static_cast<double>(std::fabs(x)));
    sum += x;
    sq += static_cast<double>(x) * x;
  }
  s.mean = sum / v.size();
  s.rms = std::sqrt(sq / v.size());
  return s;
}

class SynthEveryType : public ::testing::TestWithParam<std::string> {};

TEST_P(SynthEveryType, MetadataTensorsAndValues) {
  testing::TempDir dir;
  const auto path = dir / "tiny.gguf";
  SynthOptions options = tiny_options(GetParam());
  auto summary = synth_model(options, path);
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->file_bytes, std::filesystem::file_size(path));
  EXPECT_EQ(summary->n_vocab, 512u);

  auto file = gguf::File::open(path);
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->alignment(), 32u);
  EXPECT_EQ(file->architecture(), "llama");
  EXPECT_EQ(*file->get_string("general.name"), "strata synth (random weights)");
  EXPECT_EQ(get_u(*file, "general.file_type"), options.target.file_type);
  EXPECT_EQ(get_u(*file, "general.quantization_version"), 2u);
  EXPECT_EQ(get_u(*file, "llama.block_count"), 4u);
  EXPECT_EQ(get_u(*file, "llama.embedding_length"), 256u);
  EXPECT_EQ(get_u(*file, "llama.feed_forward_length"), 768u);
  EXPECT_EQ(get_u(*file, "llama.attention.head_count"), 4u);
  EXPECT_EQ(get_u(*file, "llama.attention.head_count_kv"), 2u);
  EXPECT_EQ(get_u(*file, "llama.context_length"), 2048u);
  EXPECT_EQ(get_u(*file, "llama.vocab_size"), 512u);
  EXPECT_EQ(get_u(*file, "llama.rope.dimension_count"), 64u);
  EXPECT_FLOAT_EQ(static_cast<float>(*file->get_number("llama.rope.freq_base")), 10000.0f);
  EXPECT_FLOAT_EQ(static_cast<float>(*file->get_number("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
  EXPECT_EQ(*file->get_string("tokenizer.ggml.model"), "gpt2");
  ASSERT_NE(file->find("tokenizer.ggml.tokens"), nullptr);
  EXPECT_EQ(file->find("tokenizer.ggml.tokens")->array_size(), 512u);
  EXPECT_EQ(file->find("tokenizer.ggml.token_type")->array_size(), 512u);
  EXPECT_GT(file->find("tokenizer.ggml.merges")->array_size(), 100u);
  EXPECT_NE(file->get_string("tokenizer.chat_template")->find("<|im_start|>"), std::string::npos);

  // The model loader's reader sees the shapes synth was asked for.
  auto hp = read_hparams(*file);
  ASSERT_TRUE(hp.ok()) << hp.status().message();
  EXPECT_EQ(hp->arch, Arch::kLlama);
  EXPECT_EQ(hp->n_vocab, 512u);
  EXPECT_EQ(hp->n_embd, 256u);
  EXPECT_EQ(hp->n_layer, 4u);
  EXPECT_EQ(hp->n_head, 4u);
  EXPECT_EQ(hp->n_head_kv, 2u);
  EXPECT_EQ(hp->n_ff, 768u);
  EXPECT_EQ(hp->head_dim_k, 64u);
  EXPECT_EQ(hp->n_ctx_train, 2048u);
  EXPECT_FALSE(hp->tied_embeddings);

  auto specs = arch_tensors(options.hparams);
  ASSERT_TRUE(specs.ok());
  ASSERT_EQ(file->tensors().size(), specs->size());
  std::vector<TensorDesc> descs;
  for (const TensorSpec& s : *specs) descs.push_back({s.name, s.ne, Type::F32});
  const auto choices = choose_tensor_types(descs, options.target, {"llama", 4, 4, 2});

  const float n_embd = 256.0f;
  for (size_t i = 0; i < specs->size(); ++i) {
    const TensorSpec& spec = (*specs)[i];
    const gguf::TensorInfo& t = file->tensors()[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, spec.name);
    EXPECT_EQ(t.ne, spec.ne);
    EXPECT_EQ(t.type, choices[i].type);
    if (spec.is_vector()) {
      EXPECT_EQ(t.type, Type::F32);
    } else if (options.target.mix == QuantMix::kNone && spec.role == TensorRole::kOutput &&
               quant::type_info(options.target.base).quantized) {
      // llama-quantize's head rule: Q6_K whatever the target, Q8_0 for a Q8_0 target.
      EXPECT_EQ(t.type, options.target.base == Type::Q8_0 ? Type::Q8_0 : Type::Q6_K);
    } else if (options.target.mix == QuantMix::kNone) {
      EXPECT_EQ(t.type, options.target.base);
    }
    const Stats s = stats_of(read_tensor(t));
    ASSERT_TRUE(s.finite);
    if (spec.role == TensorRole::kAttnNorm || spec.role == TensorRole::kFfnNorm ||
        spec.role == TensorRole::kOutputNorm) {
      EXPECT_LE(s.max_abs, 1.1 + 1e-6);
      EXPECT_NEAR(s.mean, 1.0, 0.02);
      continue;
    }
    // Uniform in [-scale, scale]; quantization may round the extremes out a little.
    double scale = std::sqrt(3.0 / spec.ne[0]);
    if (spec.role == TensorRole::kTokenEmbd) scale = std::sqrt(3.0);
    if (spec.role == TensorRole::kOutput) scale = 3.0 * std::sqrt(3.0 / n_embd);
    EXPECT_LE(s.max_abs, 1.25 * scale);
    EXPECT_GT(s.rms, 0.3 * scale / std::sqrt(3.0));
    EXPECT_LT(s.rms, 1.25 * scale / std::sqrt(3.0));
    EXPECT_LT(std::fabs(s.mean), 0.05 * scale);
  }
}

INSTANTIATE_TEST_SUITE_P(Types, SynthEveryType,
                         ::testing::Values("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_K", "q3_K",
                                           "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs", "q4_K_M", "q5_K_M"));

TEST(Synth, SameSeedSameBytesOtherSeedOtherBytes) {
  testing::TempDir dir;
  SynthOptions a = tiny_options("q4_K_M", 11);
  SynthOptions b = a;
  b.n_threads = 1;  // the thread count must not change a byte
  SynthOptions c = a;
  c.seed = 12;
  ASSERT_TRUE(synth_model(a, dir / "a.gguf").ok());
  ASSERT_TRUE(synth_model(b, dir / "b.gguf").ok());
  ASSERT_TRUE(synth_model(c, dir / "c.gguf").ok());
  EXPECT_EQ(file_hash(dir / "a.gguf"), file_hash(dir / "b.gguf"));
  EXPECT_NE(file_hash(dir / "a.gguf"), file_hash(dir / "c.gguf"));

  SynthOptions f = tiny_options("f16", 11);
  SynthOptions g = f;
  g.n_threads = 3;
  ASSERT_TRUE(synth_model(f, dir / "f.gguf").ok());
  ASSERT_TRUE(synth_model(g, dir / "g.gguf").ok());
  EXPECT_EQ(file_hash(dir / "f.gguf"), file_hash(dir / "g.gguf"));
}

TEST(Synth, Q4KMixFollowsLlamaCppRules) {
  testing::TempDir dir;
  SynthOptions options = tiny_options("q4_K_M");
  ASSERT_TRUE(synth_model(options, dir / "m.gguf").ok());
  auto file = gguf::File::open(dir / "m.gguf");
  ASSERT_TRUE(file.ok());
  // 4 layers: use_more_bits picks layers 2 and 3 ((i - 0) % 3 == 2, i >= 7*4/8).
  EXPECT_EQ(file->find_tensor("output.weight")->type, Type::Q6_K);
  EXPECT_EQ(file->find_tensor("token_embd.weight")->type, Type::Q4_K);
  for (int il = 0; il < 4; ++il) {
    const Type more = il >= 2 ? Type::Q6_K : Type::Q4_K;
    const std::string b = "blk." + std::to_string(il) + ".";
    EXPECT_EQ(file->find_tensor(b + "attn_v.weight")->type, more) << il;
    EXPECT_EQ(file->find_tensor(b + "ffn_down.weight")->type, more) << il;
    EXPECT_EQ(file->find_tensor(b + "attn_q.weight")->type, Type::Q4_K);
    EXPECT_EQ(file->find_tensor(b + "attn_k.weight")->type, Type::Q4_K);
    EXPECT_EQ(file->find_tensor(b + "attn_output.weight")->type, Type::Q4_K);
    EXPECT_EQ(file->find_tensor(b + "ffn_gate.weight")->type, Type::Q4_K);
    EXPECT_EQ(file->find_tensor(b + "ffn_up.weight")->type, Type::Q4_K);
    EXPECT_EQ(file->find_tensor(b + "attn_norm.weight")->type, Type::F32);
  }
}

TEST(Synth, RowsThatDoNotFitABlockFallBack) {
  testing::TempDir dir;
  SynthOptions options = tiny_options("q4_K");
  options.hparams.n_embd = 96;  // 2 heads of 48: not a multiple of 256
  options.hparams.n_head = 2;
  options.hparams.n_head_kv = 1;
  options.hparams.n_ff = 256;
  auto summary = synth_model(options, dir / "odd.gguf");
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  // token_embd and 6 matrices per block; the head's rule picks Q8_0 for such rows itself.
  EXPECT_EQ(summary->n_fallback, 1u + 6u * 4u);
  EXPECT_NE(summary->first_fallback.find("token_embd.weight"), std::string::npos) << summary->first_fallback;
  auto file = gguf::File::open(dir / "odd.gguf");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->find_tensor("blk.0.attn_q.weight")->type, Type::Q5_0);    // rows of 96
  EXPECT_EQ(file->find_tensor("blk.0.ffn_down.weight")->type, Type::Q4_K);  // rows of 256
  EXPECT_EQ(file->find_tensor("output.weight")->type, Type::Q8_0);
}

TEST(Synth, Qwen2TiedWithRopeFreqs) {
  testing::TempDir dir;
  SynthOptions options = tiny_options("q8_0");
  auto hp = synth_preset("tiny", Arch::kQwen2);
  ASSERT_TRUE(hp.ok());
  options.hparams = *hp;
  options.hparams.tied_embeddings = true;
  options.rope_freqs = true;
  ASSERT_TRUE(synth_model(options, dir / "q.gguf").ok());
  auto file = gguf::File::open(dir / "q.gguf");
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->architecture(), "qwen2");
  EXPECT_EQ(get_u(*file, "qwen2.block_count"), 4u);
  EXPECT_FLOAT_EQ(static_cast<float>(*file->get_number("qwen2.rope.freq_base")), 1000000.0f);
  auto hp_read = read_hparams(*file);
  ASSERT_TRUE(hp_read.ok()) << hp_read.status().message();
  EXPECT_EQ(hp_read->arch, Arch::kQwen2);
  EXPECT_EQ(hp_read->rope_type, RopeType::kNeox);
  EXPECT_TRUE(hp_read->tied_embeddings);
  EXPECT_FLOAT_EQ(hp_read->rms_norm_eps, 1e-6f);
  EXPECT_EQ(file->find_tensor("output.weight"), nullptr);
  const gguf::TensorInfo* bias = file->find_tensor("blk.2.attn_k.bias");
  ASSERT_NE(bias, nullptr);
  EXPECT_EQ(bias->type, Type::F32);
  EXPECT_LE(stats_of(read_tensor(*bias)).max_abs, 0.1);

  // Tied: the head is token_embd, so output_norm scales the logits down to std ~3.
  const Stats norm = stats_of(read_tensor(*file->find_tensor("output_norm.weight")));
  EXPECT_NEAR(norm.mean, 3.0 / 16.0, 0.01);

  const gguf::TensorInfo* freqs = file->find_tensor("rope_freqs.weight");
  ASSERT_NE(freqs, nullptr);
  EXPECT_EQ(freqs->ne, (std::vector<uint64_t>{32}));
  const std::vector<float> f = read_tensor(*freqs);
  EXPECT_FLOAT_EQ(f.front(), 1.0f);
  EXPECT_FLOAT_EQ(f.back(), 8.0f);
  for (size_t i = 1; i < f.size(); ++i) EXPECT_GE(f[i], f[i - 1]);
}

TEST(Synth, ChatTemplateOverride) {
  testing::TempDir dir;
  SynthOptions options = tiny_options("q8_0");
  options.chat_template = "{{ messages[0]['content'] }}";
  ASSERT_TRUE(synth_model(options, dir / "t.gguf").ok());
  auto file = gguf::File::open(dir / "t.gguf");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(*file->get_string("tokenizer.chat_template"), "{{ messages[0]['content'] }}");
}

TEST(Synth, CopiesAVocabularyFile) {
  STRATA_REQUIRE_FIXTURES();
  const auto vocab = testing::fixtures_dir() / "tokenizer" / "ggml-vocab-llama-spm.gguf";
  if (!std::filesystem::exists(vocab)) GTEST_SKIP() << "missing " << vocab.string();
  auto source = gguf::File::open(vocab);
  ASSERT_TRUE(source.ok());

  testing::TempDir dir;
  SynthOptions options = tiny_options("q4_0");
  options.vocab_path = vocab;
  auto summary = synth_model(options, dir / "v.gguf");
  ASSERT_TRUE(summary.ok()) << summary.status().message();
  EXPECT_EQ(summary->n_vocab, 32000u);
  auto file = gguf::File::open(dir / "v.gguf");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(get_u(*file, "llama.vocab_size"), 32000u);
  EXPECT_EQ(file->find_tensor("token_embd.weight")->ne, (std::vector<uint64_t>{256, 32000}));
  EXPECT_EQ(file->find_tensor("output.weight")->ne, (std::vector<uint64_t>{256, 32000}));
  size_t copied = 0;
  for (const auto& [key, value] : source->metadata()) {
    if (!key.starts_with("tokenizer.")) continue;
    ++copied;
    const gguf::Value* out = file->find(key);
    ASSERT_NE(out, nullptr) << key;
    EXPECT_EQ(out->type(), value.type()) << key;
    EXPECT_EQ(out->to_display(16), value.to_display(16)) << key;
    if (value.is_array()) {
      EXPECT_EQ(out->array_size(), value.array_size()) << key;
    }
  }
  EXPECT_GE(copied, 4u);
  EXPECT_EQ(*file->get_string("tokenizer.ggml.model"), "llama");
  // The demo template belongs to the demo vocabulary only.
  if (source->find("tokenizer.chat_template") == nullptr) {
    EXPECT_EQ(file->find("tokenizer.chat_template"), nullptr);
  }

  options.n_vocab_given = true;
  options.hparams.n_vocab = 1000;
  auto conflict = synth_model(options, dir / "w.gguf");
  ASSERT_FALSE(conflict.ok());
  EXPECT_NE(conflict.status().message().find("32000"), std::string::npos) << conflict.status().message();
}

TEST(Synth, BadRequestsAreClearErrors) {
  auto preset = synth_preset("huge", Arch::kLlama);
  ASSERT_FALSE(preset.ok());
  EXPECT_NE(preset.status().message().find("tiny, 1b, 8b, 70b"), std::string::npos);

  testing::TempDir dir;
  SynthOptions options = tiny_options("q8_0");
  options.hparams.n_vocab = 100;
  auto small = synth_model(options, dir / "x.gguf");
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find(std::to_string(demo_vocab_min_size())), std::string::npos);

  options = tiny_options("q8_0");
  options.hparams.n_head_kv = 3;
  EXPECT_FALSE(synth_model(options, dir / "x.gguf").ok());
  options = tiny_options("q8_0");
  options.hparams.n_layer = 100000;
  auto deep = synth_model(options, dir / "x.gguf");
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.status().message().find("n_layer 100000"), std::string::npos);
  options = tiny_options("q8_0");
  options.vocab_path = dir / "missing.gguf";
  EXPECT_FALSE(synth_model(options, dir / "x.gguf").ok());
  EXPECT_FALSE(std::filesystem::exists(dir / "x.gguf"));
}

TEST(DemoVocab, BytesMergesSpecialsAndPadding) {
  EXPECT_EQ(byte_token_text('a'), "a");
  EXPECT_EQ(byte_token_text(' '), "\xC4\xA0");   // U+0120 "Ġ"
  EXPECT_EQ(byte_token_text('\n'), "\xC4\x8A");  // U+010A "Ċ"
  EXPECT_EQ(byte_token_text(0), "\xC4\x80");     // U+0100 "Ā"
  EXPECT_EQ(byte_token_text(0xFF), "\xC3\xBF");  // printable Latin-1 stays itself

  auto vocab = make_demo_vocab(600);
  ASSERT_TRUE(vocab.ok()) << vocab.status().message();
  ASSERT_EQ(vocab->tokens.size(), 600u);
  ASSERT_EQ(vocab->token_types.size(), 600u);
  std::map<std::string, int> seen;
  for (const std::string& t : vocab->tokens) EXPECT_EQ(seen[t]++, 0) << "duplicate token " << t;
  for (int b = 0; b < 256; ++b) EXPECT_EQ(vocab->tokens[b], byte_token_text(static_cast<uint8_t>(b)));
  EXPECT_EQ(vocab->tokens[vocab->bos_id], "<|begin_of_text|>");
  EXPECT_EQ(vocab->tokens[vocab->eos_id], "<|end_of_text|>");
  EXPECT_EQ(vocab->tokens[vocab->eot_id], "<|im_end|>");
  EXPECT_EQ(vocab->token_types[vocab->bos_id], 3);
  EXPECT_EQ(vocab->token_types[vocab->eot_id], 3);
  EXPECT_EQ(vocab->token_types[100], 1);
  EXPECT_EQ(vocab->tokens[599], "[PAD599]");
  EXPECT_EQ(vocab->token_types[599], 5);
  // Each merge joins two existing tokens into the token right after the bytes.
  for (size_t i = 0; i < vocab->merges.size(); ++i) {
    const std::string& m = vocab->merges[i];
    const size_t space = m.find(' ');
    ASSERT_NE(space, std::string::npos);
    EXPECT_EQ(vocab->tokens[256 + i], m.substr(0, space) + m.substr(space + 1));
  }
  EXPECT_EQ(demo_vocab_min_size(), 256 + vocab->merges.size() + 4);
  EXPECT_TRUE(make_demo_vocab(demo_vocab_min_size()).ok());
  EXPECT_FALSE(make_demo_vocab(demo_vocab_min_size() - 1).ok());
}

}  // namespace
}  // namespace strata::model
