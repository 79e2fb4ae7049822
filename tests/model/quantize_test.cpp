// strata quantize: per-tensor type rules, round-trip error, bare tensors, bad input.
#include "model/quantize_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/content_hash.h"
#include "core/mapped_file.h"
#include "gguf/writer.h"
#include "model/synth.h"
#include "quant/convert.h"
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

QuantTarget target(std::string_view name) {
  auto t = parse_quant_target(name);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return *t;
}

Hash128 file_hash(const std::filesystem::path& path) {
  auto mapped = MappedFile::open(path);
  EXPECT_TRUE(mapped.ok());
  return hash_bytes(mapped->bytes());
}

// An F32 model with 8 layers, so use_more_bits picks layers 0, 3, 6 and 7.
std::filesystem::path make_f32_model(const testing::TempDir& dir, uint32_t n_layer = 8, bool tied = false) {
  SynthOptions options;
  options.hparams = *synth_preset("tiny", Arch::kLlama);
  options.hparams.n_layer = n_layer;
  options.hparams.tied_embeddings = tied;
  options.target = target("f32");
  options.n_threads = 2;
  const auto path = dir / (tied ? "f32-tied.gguf" : "f32.gguf");
  auto summary = synth_model(options, path);
  EXPECT_TRUE(summary.ok()) << summary.status().message();
  return path;
}

Result<QuantizePlan> quantize(const std::filesystem::path& in, const std::filesystem::path& out,
                              std::string_view type, size_t threads = 2) {
  QuantizeOptions options;
  options.target = target(type);
  options.n_threads = threads;
  return quantize_model(in, out, options);
}

bool is_more_bits_layer(int il) { return il == 0 || il == 3 || il == 6 || il == 7; }

// The type llama.cpp's Q4_K_M / Q5_K_M rules give each tensor of the 8-layer model.
Type expected_mix_type(const std::string& name, Type base) {
  if (name == "output.weight") return Type::Q6_K;
  if (name.ends_with("_norm.weight")) return Type::F32;
  int il = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &il) == 1 &&
      (name.ends_with("attn_v.weight") || name.ends_with("ffn_down.weight"))) {
    return is_more_bits_layer(il) ? Type::Q6_K : base;
  }
  return base;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, double rel_rms, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  double err = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    err += (a[i] - b[i]) * static_cast<double>(a[i] - b[i]);
    ref += static_cast<double>(a[i]) * a[i];
  }
  EXPECT_LE(std::sqrt(err / std::max(ref, 1e-30)), rel_rms) << what;
}

TEST(Quantize, Q8_0EveryMatrixAndMetadataCopied) {
  testing::TempDir dir;
  const auto in = make_f32_model(dir);
  auto plan = quantize(in, dir / "q8.gguf", "q8_0");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->n_fallback, 0u);
  auto src = gguf::File::open(in);
  auto out = gguf::File::open(dir / "q8.gguf");
  ASSERT_TRUE(src.ok() && out.ok());
  EXPECT_EQ(*out->get_uint("general.file_type"), 7u);
  EXPECT_EQ(*out->get_uint("general.quantization_version"), 2u);
  ASSERT_EQ(out->metadata().size(), src->metadata().size());
  for (size_t i = 0; i < src->metadata().size(); ++i) {
    const auto& [key, value] = src->metadata()[i];
    EXPECT_EQ(out->metadata()[i].first, key);
    if (key != "general.file_type") {
      EXPECT_EQ(out->metadata()[i].second.to_display(4), value.to_display(4)) << key;
    }
  }
  ASSERT_EQ(out->tensors().size(), src->tensors().size());
  for (size_t i = 0; i < src->tensors().size(); ++i) {
    const gguf::TensorInfo& a = src->tensors()[i];
    const gguf::TensorInfo& b = out->tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.ne, b.ne);
    EXPECT_EQ(b.type, a.ne.size() == 1 ? Type::F32 : Type::Q8_0) << b.name;
    expect_close(read_tensor(a), read_tensor(b), 0.01, b.name);
  }
  EXPECT_EQ(plan->bytes_out, [&] {
    uint64_t n = 0;
    for (const auto& t : out->tensors()) n += t.n_bytes;
    return n;
  }());
}

TEST(Quantize, MixesFollowLlamaCppRules) {
  testing::TempDir dir;
  const auto in = make_f32_model(dir);
  for (auto [name, base, file_type, tolerance] :
       {std::tuple{"q4_K_M", Type::Q4_K, 15u, 0.12}, std::tuple{"Q5_K_M", Type::Q5_K, 17u, 0.06}}) {
    SCOPED_TRACE(name);
    const auto out_path = dir / (std::string(name) + ".gguf");
    auto plan = quantize(in, out_path, name);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    auto src = gguf::File::open(in);
    auto out = gguf::File::open(out_path);
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(*out->get_uint("general.file_type"), file_type);
    for (size_t i = 0; i < out->tensors().size(); ++i) {
      const gguf::TensorInfo& t = out->tensors()[i];
      EXPECT_EQ(t.type, expected_mix_type(t.name, base)) << t.name;
      expect_close(read_tensor(src->tensors()[i]), read_tensor(t), tolerance, t.name);
    }
  }
}

TEST(Quantize, SynthMixMatchesQuantizedMix) {
  // synth --type q4_K_M and quantize(F32 synth, q4_K_M) must agree tensor by tensor.
  testing::TempDir dir;
  const auto in = make_f32_model(dir);
  ASSERT_TRUE(quantize(in, dir / "a.gguf", "q4_K_M").ok());
  SynthOptions options;
  options.hparams = *synth_preset("tiny", Arch::kLlama);
  options.hparams.n_layer = 8;
  options.target = target("q4_K_M");
  ASSERT_TRUE(synth_model(options, dir / "b.gguf").ok());
  auto a = gguf::File::open(dir / "a.gguf");
  auto b = gguf::File::open(dir / "b.gguf");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->tensors().size(), b->tensors().size());
  for (size_t i = 0; i < a->tensors().size(); ++i) EXPECT_EQ(a->tensors()[i].type, b->tensors()[i].type);
}

TEST(Quantize, TiedEmbeddingsGetTheHeadType) {
  testing::TempDir dir;
  const auto in = make_f32_model(dir, 8, /*tied=*/true);
  ASSERT_TRUE(quantize(in, dir / "t.gguf", "q4_K_M").ok());
  auto out = gguf::File::open(dir / "t.gguf");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->find_tensor("token_embd.weight")->type, Type::Q6_K);
}

TEST(Quantize, PlainTargetsGiveTheHeadQ6_K) {
  // llama-quantize's Q4_0 (or Q5_1, IQ4_NL) file has a Q6_K output head; a Q8_0 one keeps Q8_0.
  testing::TempDir dir;
  for (const bool tied : {false, true}) {
    const auto in = make_f32_model(dir, 8, tied);
    const char* head = tied ? "token_embd.weight" : "output.weight";
    for (auto [name, base, want] : {std::tuple{"q4_0", Type::Q4_0, Type::Q6_K},
                                    std::tuple{"q5_1", Type::Q5_1, Type::Q6_K},
                                    std::tuple{"iq4_nl", Type::IQ4_NL, Type::Q6_K},
                                    std::tuple{"q8_0", Type::Q8_0, Type::Q8_0}}) {
      SCOPED_TRACE(std::string(name) + (tied ? " tied" : ""));
      const auto out_path = dir / (std::string(name) + (tied ? "-tied.gguf" : ".gguf"));
      ASSERT_TRUE(quantize(in, out_path, name).ok());
      auto out = gguf::File::open(out_path);
      ASSERT_TRUE(out.ok());
      EXPECT_EQ(out->find_tensor(head)->type, want);
      EXPECT_EQ(out->find_tensor("blk.0.attn_q.weight")->type, base);
      EXPECT_EQ(out->find_tensor("blk.0.ffn_down.weight")->type, base);
    }
  }
}

TEST(Quantize, DequantizeToFloatTypes) {
  testing::TempDir dir;
  const auto in = make_f32_model(dir, 2);
  ASSERT_TRUE(quantize(in, dir / "q4.gguf", "q4_K_M").ok());
  ASSERT_TRUE(quantize(dir / "q4.gguf", dir / "back.gguf", "F32").ok());
  ASSERT_TRUE(quantize(dir / "q4.gguf", dir / "half.gguf", "f16").ok());
  auto q = gguf::File::open(dir / "q4.gguf");
  auto back = gguf::File::open(dir / "back.gguf");
  auto half = gguf::File::open(dir / "half.gguf");
  ASSERT_TRUE(q.ok() && back.ok() && half.ok());
  EXPECT_EQ(*back->get_uint("general.file_type"), 0u);
  EXPECT_EQ(*half->get_uint("general.file_type"), 1u);
  for (size_t i = 0; i < q->tensors().size(); ++i) {
    const gguf::TensorInfo& t = back->tensors()[i];
    EXPECT_EQ(t.type, Type::F32);
    EXPECT_EQ(half->tensors()[i].type, t.ne.size() == 1 ? Type::F32 : Type::F16) << t.name;
    // Dequantizing is exact: the F32 file holds exactly what the Q4_K_M file decodes to.
    const std::vector<float> expected = read_tensor(q->tensors()[i]);
    const std::vector<float> got = read_tensor(t);
    ASSERT_EQ(std::memcmp(expected.data(), got.data(), got.size() * 4), 0) << t.name;
    expect_close(expected, read_tensor(half->tensors()[i]), 1e-3, t.name);
  }
}

TEST(Quantize, ThreadCountDoesNotChangeBytes) {
  testing::TempDir dir;
  const auto in = make_f32_model(dir, 2);
  ASSERT_TRUE(quantize(in, dir / "one.gguf", "q5_K_M", 1).ok());
  ASSERT_TRUE(quantize(in, dir / "three.gguf", "q5_K_M", 3).ok());
  EXPECT_EQ(file_hash(dir / "one.gguf"), file_hash(dir / "three.gguf"));
}

// A file of bare tensors (no metadata at all), as tools and tests write them.
std::filesystem::path write_bare(const testing::TempDir& dir) {
  gguf::Writer w;
  auto f32_fill = [](uint64_t n_per_row) {
    return [n_per_row](std::span<uint8_t> out, uint64_t row_begin, uint64_t n_rows) -> Status {
      for (uint64_t r = 0; r < n_rows; ++r) {
        for (uint64_t j = 0; j < n_per_row; ++j) {
          const float v = std::sin(0.37f * static_cast<float>(j) + 1.3f * static_cast<float>(row_begin + r));
          std::memcpy(out.data() + (r * n_per_row + j) * 4, &v, 4);
        }
      }
      return {};
    };
  };
  EXPECT_TRUE(w.add_tensor("matrix", Type::F32, {512, 6}, f32_fill(512)).ok());
  EXPECT_TRUE(w.add_tensor("narrow", Type::F32, {96, 3}, f32_fill(96)).ok());
  EXPECT_TRUE(w.add_tensor("odd", Type::F32, {100, 2}, f32_fill(100)).ok());
  EXPECT_TRUE(w.add_tensor("vector", Type::F32, {64}, f32_fill(64)).ok());
  EXPECT_TRUE(w.add_tensor("column", Type::F32, {256, 1}, f32_fill(256)).ok());  // 1-D for ggml
  const auto path = dir / "bare.gguf";
  EXPECT_TRUE(w.write(path).ok());
  return path;
}

TEST(Quantize, BareTensorFile) {
  testing::TempDir dir;
  const auto in = write_bare(dir);
  auto plan = quantize(in, dir / "bare-q4k.gguf", "q4_K");
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  auto out = gguf::File::open(dir / "bare-q4k.gguf");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out->get_uint("general.file_type"), 14u);
  EXPECT_EQ(out->find_tensor("matrix")->type, Type::Q4_K);
  EXPECT_EQ(out->find_tensor("narrow")->type, Type::Q5_0);  // 96 fits 32-blocks only
  EXPECT_EQ(out->find_tensor("odd")->type, Type::F16);      // 100 fits no block
  EXPECT_EQ(out->find_tensor("vector")->type, Type::F32);
  EXPECT_EQ(out->find_tensor("column")->type, Type::F32);
  EXPECT_EQ(plan->n_fallback, 2u);
  for (const TensorConversion& t : plan->tensors) {
    if (t.name == "narrow") {
      EXPECT_NE(t.note.find("not a multiple of 256"), std::string::npos) << t.note;
    }
    if (t.name == "matrix") {
      EXPECT_TRUE(t.note.empty());
    }
  }
  auto src = gguf::File::open(in);
  expect_close(read_tensor(*src->find_tensor("matrix")), read_tensor(*out->find_tensor("matrix")), 0.1, "matrix");
  expect_close(read_tensor(*src->find_tensor("odd")), read_tensor(*out->find_tensor("odd")), 1e-3, "odd");
}

TEST(Quantize, BadTypeListsValidTypes) {
  auto t = parse_quant_target("q7_0");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("'q7_0'"), std::string::npos);
  EXPECT_NE(t.status().message().find("q4_K_M"), std::string::npos);
  EXPECT_NE(t.status().message().find("iq4_xs"), std::string::npos);
  EXPECT_TRUE(parse_quant_target("Q4_K_M").ok());
  EXPECT_TRUE(parse_quant_target("IQ4_NL").ok());
}

TEST(Quantize, UnreadableInputTypeNamesTheTensor) {
  testing::TempDir dir;
  gguf::Writer w;
  // iq2_xxs blocks (66 bytes / 256 values) of zeros: valid to store, not something strata decodes.
  ASSERT_TRUE(w.add_tensor("blk.0.ffn_up.weight", Type::IQ2_XXS, {256, 2},
                           [](std::span<uint8_t> out, uint64_t, uint64_t) -> Status {
                             std::fill(out.begin(), out.end(), 0);
                             return {};
                           })
                  .ok());
  ASSERT_TRUE(w.write(dir / "iq2.gguf").ok());
  auto plan = quantize(dir / "iq2.gguf", dir / "out.gguf", "q8_0");
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("blk.0.ffn_up.weight"), std::string::npos) << plan.status().message();
  EXPECT_NE(plan.status().message().find("iq2_xxs"), std::string::npos) << plan.status().message();
  EXPECT_FALSE(std::filesystem::exists(dir / "out.gguf"));
}

TEST(Quantize, SameTypeIsCopiedAndSplitFilesRefused) {
  testing::TempDir dir;
  const auto in = make_f32_model(dir, 2);
  ASSERT_TRUE(quantize(in, dir / "a.gguf", "q8_0").ok());
  ASSERT_TRUE(quantize(dir / "a.gguf", dir / "b.gguf", "q8_0").ok());
  EXPECT_EQ(file_hash(dir / "a.gguf"), file_hash(dir / "b.gguf"));

  gguf::Writer w;
  w.set("split.no", gguf::Value::from_u16(0));
  w.set("split.count", gguf::Value::from_u16(3));
  ASSERT_TRUE(w.write(dir / "split.gguf").ok());
  auto plan = quantize(dir / "split.gguf", dir / "c.gguf", "q8_0");
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("split"), std::string::npos);

  auto missing = quantize(dir / "missing.gguf", dir / "d.gguf", "q8_0");
  EXPECT_FALSE(missing.ok());
}

}  // namespace
}  // namespace strata::model
