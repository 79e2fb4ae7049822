// Running tiny-llama-hd128 (../shared/fixtures) through model::Model on a backend and comparing
// with llama.cpp's logits for the reference's six K/V cache configurations: shared by the CPU
// test (tests/engine) and the GPU one (tests/engine_cuda).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "engine/batch.h"
#include "gguf/file.h"
#include "model/model.h"
#include "support/fixtures.h"

namespace strata::engine::reference {

inline constexpr size_t kVocab = 32000;

inline std::filesystem::path reference_dir() { return testing::fixtures_dir() / "reference" / "tiny-llama-hd128"; }

inline std::vector<float> read_floats(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  in.seekg(0, std::ios::end);
  std::vector<float> values(static_cast<size_t>(in.tellg()) / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)));
  return values;
}

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

struct Diff {
  double max = 0;
  double mean = 0;
};

inline Diff diff(const std::vector<float>& a, const std::vector<float>& b) {
  Diff d;
  EXPECT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double e = std::abs(static_cast<double>(a[i]) - b[i]);
    d.max = std::max(d.max, e);
    d.mean += e;
  }
  d.mean /= static_cast<double>(std::max<size_t>(a.size(), 1));
  return d;
}

inline int32_t argmax(std::span<const float> row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

struct Case {
  const char* name;  // the reference's file prefix
  quant::Type k;
  quant::Type v;
  bool flash;
  bool quantized;
};

struct Outputs {
  std::vector<float> prompt;  // 17 x n_vocab
  std::vector<float> decode;  // 16 x n_vocab, fed the f32 reference's greedy tokens
  std::vector<int32_t> greedy;  // our argmax of the last prompt row, then of each decode row
};

// The fixture model on `backend`: the prompt as one batch (every row's logits), then the f32
// reference's greedy tokens fed one decode step at a time.
inline Outputs run_case(const Case& c, backend::Backend& backend) {
  auto file = gguf::File::open(testing::fixtures_dir() / "models" / "tiny-llama-hd128.gguf");
  EXPECT_TRUE(file.ok()) << file.status().message();
  if (!file.ok()) return {};
  const nlohmann::json prompt_json = read_json(reference_dir() / "prompt.json");
  const std::vector<int32_t> prompt = prompt_json["tokens"].get<std::vector<int32_t>>();
  const std::vector<int32_t> fed =
      read_json(reference_dir() / "f32_f32_fa0.greedy.json")["generated"].get<std::vector<int32_t>>();

  model::ModelConfig config;
  config.kv.n_ctx = 256;
  config.kv.type_k = c.k;
  config.kv.type_v = c.v;
  config.flash_attn = c.flash;
  config.n_batch = static_cast<uint32_t>(prompt.size());
  config.n_outputs = static_cast<uint32_t>(prompt.size());
  auto loaded = model::Model::load(*file, backend, config);
  EXPECT_TRUE(loaded.ok()) << loaded.status().message();
  if (!loaded.ok()) return {};
  model::Model& model = **loaded;

  Outputs out;
  Batch batch;
  batch.add_sequence(prompt, 0, 0, /*all_outputs=*/true);
  EXPECT_TRUE(model.forward(batch.view()).ok());
  for (size_t i = 0; i < model.n_outputs(); ++i) {
    out.prompt.insert(out.prompt.end(), model.logits(i).begin(), model.logits(i).end());
  }
  out.greedy.push_back(argmax(model.logits(prompt.size() - 1)));
  for (size_t s = 0; s < fed.size(); ++s) {
    batch.clear();
    batch.add(fed[s], static_cast<int32_t>(prompt.size() + s), 0, true);
    EXPECT_TRUE(model.forward(batch.view()).ok());
    out.decode.insert(out.decode.end(), model.logits(0).begin(), model.logits(0).end());
    out.greedy.push_back(argmax(model.logits(0)));
  }
  return out;
}

// llama.cpp's own error for a configuration (diffs.json), preferring the figures without its
// Hadamard rotation of quantized caches, which strata does not do.
inline nlohmann::json llama_row(const std::string& config) {
  const nlohmann::json diffs = read_json(reference_dir() / "diffs.json");
  nlohmann::json found;
  for (const auto& row : diffs["rows"]) {
    if (row["config"] == config + "_norot") return row;
    if (row["config"] == config) found = row;
  }
  return found;
}

// The tolerances: f32 and f16 caches within max |d| 0.25 and mean |d| 0.03 of llama.cpp's
// logits for the same configuration, and its first 4 greedy tokens; quantized caches no further
// from llama.cpp's f32/f32 logits than 1.5x llama.cpp's own error (max + 0.1, mean + 0.02).
// `label` names the backend in the printed line.
inline void expect_close_to_llama_cpp(const Case& c, const Outputs& ours, const char* label) {
  ASSERT_EQ(ours.prompt.size(), 17 * kVocab);
  ASSERT_EQ(ours.decode.size(), 16 * kVocab);

  if (!c.quantized) {
    const std::vector<float> ref_prompt = read_floats(reference_dir() / (std::string(c.name) + ".logits.f32"));
    const std::vector<float> ref_decode = read_floats(reference_dir() / (std::string(c.name) + ".decode_logits.f32"));
    const Diff p = diff(ours.prompt, ref_prompt);
    const Diff d = diff(ours.decode, ref_decode);
    std::printf("%s %-16s prompt max %.4f mean %.5f | decode max %.4f mean %.5f\n", label, c.name, p.max, p.mean,
                d.max, d.mean);
    EXPECT_LT(p.max, 0.25);
    EXPECT_LT(p.mean, 0.03);
    EXPECT_LT(d.max, 0.25);
    EXPECT_LT(d.mean, 0.03);
    const std::vector<int32_t> expected =
        read_json(reference_dir() / (std::string(c.name) + ".greedy.json"))["generated"].get<std::vector<int32_t>>();
    for (size_t i = 0; i < 4; ++i) EXPECT_EQ(ours.greedy[i], expected[i]) << "greedy step " << i;
    return;
  }
  // Quantized caches: error against llama.cpp's f32/f32 logits within 1.5x llama.cpp's own.
  const std::vector<float> base_prompt = read_floats(reference_dir() / "f32_f32_fa0.logits.f32");
  const std::vector<float> base_decode = read_floats(reference_dir() / "f32_f32_fa0.decode_logits.f32");
  const nlohmann::json own = llama_row(c.name);
  ASSERT_FALSE(own.is_null()) << c.name;
  const Diff p = diff(ours.prompt, base_prompt);
  const Diff d = diff(ours.decode, base_decode);
  const double max_bound = 1.5 * own["prompt_max_abs"].get<double>() + 0.1;
  const double mean_bound = 1.5 * own["prompt_mean_abs"].get<double>() + 0.02;
  const double decode_bound = 1.5 * own["decode_max_abs_same_inputs"].get<double>() + 0.1;
  std::printf("%s %-16s vs f32: prompt max %.4f (bound %.4f) mean %.5f (bound %.4f) | decode max %.4f (bound %.4f) "
              "mean %.5f\n",
              label, c.name, p.max, max_bound, p.mean, mean_bound, d.max, decode_bound, d.mean);
  EXPECT_LT(p.max, max_bound);
  EXPECT_LT(p.mean, mean_bound);
  EXPECT_LT(d.max, decode_bound);
  EXPECT_LT(d.mean, mean_bound);
}

inline const std::array<Case, 6> kCases = {
    Case{"f32_f32_fa0", quant::Type::F32, quant::Type::F32, false, false},
    Case{"f16_f16_fa0", quant::Type::F16, quant::Type::F16, false, false},
    Case{"f16_f16_fa1", quant::Type::F16, quant::Type::F16, true, false},
    Case{"q8_0_q8_0_fa1", quant::Type::Q8_0, quant::Type::Q8_0, true, true},
    Case{"q8_0_q4_0_fa1", quant::Type::Q8_0, quant::Type::Q4_0, true, true},
    Case{"q4_0_q4_0_fa1", quant::Type::Q4_0, quant::Type::Q4_0, true, true}};

}  // namespace strata::engine::reference
