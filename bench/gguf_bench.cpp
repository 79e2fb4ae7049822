// GGUF open + validate: a real file named by STRATA_BENCH_GGUF, and a synthetic file with an
// 8B-sized tensor table and vocabulary (small tensors, so it is quick to write).
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gguf/file.h"
#include "gguf/writer.h"

namespace {

using strata::gguf::File;
using strata::gguf::Value;
using strata::gguf::Writer;
using strata::quant::Type;

// A Llama-3-8B-like layout: 32 layers x 9 tensors + embedding, output norm and output
// (291 tensors), ~300 metadata keys and a 128256-entry vocabulary with 128k merges.
// Matrix sizes are divided by 32 so the file stays around 10 MB.
class SyntheticModel {
 public:
  SyntheticModel() {
    dir_ = std::filesystem::temp_directory_path() / fmt::format("strata-gguf-bench-{}", ::getpid());
    std::filesystem::create_directories(dir_);
    path_ = dir_ / "synthetic-8b-table.gguf";
    status_ = build().write(path_);
  }
  ~SyntheticModel() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  const strata::Status& status() const { return status_; }

 private:
  static Writer build() {
    constexpr uint64_t kVocab = 128256;
    constexpr uint64_t kEmbd = 128, kFfn = 448, kKv = 32, kLayers = 32;
    Writer w;
    w.set("general.architecture", Value::from_string("llama"));
    w.set("general.name", Value::from_string("synthetic 8B table"));
    w.set("llama.block_count", Value::from_u32(kLayers));
    w.set("llama.context_length", Value::from_u32(131072));
    w.set("llama.embedding_length", Value::from_u32(kEmbd));
    w.set("llama.feed_forward_length", Value::from_u32(kFfn));
    w.set("llama.attention.head_count", Value::from_u32(4));
    w.set("llama.attention.head_count_kv", Value::from_u32(1));
    w.set("llama.rope.freq_base", Value::from_f32(500000.0f));
    w.set("llama.attention.layer_norm_rms_epsilon", Value::from_f32(1e-5f));
    w.set("tokenizer.ggml.model", Value::from_string("gpt2"));
    w.set("tokenizer.ggml.pre", Value::from_string("llama-bpe"));
    std::vector<std::string> tokens(kVocab);
    for (uint64_t i = 0; i < kVocab; ++i) tokens[i] = fmt::format("tok{}", i);
    w.set("tokenizer.ggml.tokens", Value::from_string_array(std::move(tokens)));
    w.set("tokenizer.ggml.token_type", Value::from_i32_array(std::vector<int32_t>(kVocab, 1)));
    std::vector<std::string> merges(128000);
    for (size_t i = 0; i < merges.size(); ++i) merges[i] = fmt::format("a{} b", i);
    w.set("tokenizer.ggml.merges", Value::from_string_array(std::move(merges)));
    w.set("tokenizer.chat_template", Value::from_string(std::string(4000, 'x')));
    // 16 keys so far; fillers bring it to 300.
    for (uint32_t i = 0; i < 284; ++i) w.set(fmt::format("bench.filler.{}", i), Value::from_u32(i));

    auto fill = [](std::span<uint8_t> out, uint64_t, uint64_t) {
      std::fill(out.begin(), out.end(), uint8_t{0x3c});
      return strata::Status();
    };
    auto add = [&](const std::string& name, Type type, std::vector<uint64_t> ne) {
      (void)w.add_tensor(name, type, std::move(ne), fill);
    };
    add("token_embd.weight", Type::Q8_0, {kEmbd, kVocab / 32});
    for (uint64_t l = 0; l < kLayers; ++l) {
      const std::string p = fmt::format("blk.{}.", l);
      add(p + "attn_norm.weight", Type::F32, {kEmbd});
      add(p + "attn_q.weight", Type::Q8_0, {kEmbd, kEmbd});
      add(p + "attn_k.weight", Type::Q8_0, {kEmbd, kKv});
      add(p + "attn_v.weight", Type::Q8_0, {kEmbd, kKv});
      add(p + "attn_output.weight", Type::Q8_0, {kEmbd, kEmbd});
      add(p + "ffn_norm.weight", Type::F32, {kEmbd});
      add(p + "ffn_gate.weight", Type::Q8_0, {kEmbd, kFfn});
      add(p + "ffn_up.weight", Type::Q8_0, {kEmbd, kFfn});
      add(p + "ffn_down.weight", Type::Q8_0, {kFfn, kEmbd});
    }
    add("output_norm.weight", Type::F32, {kEmbd});
    add("output.weight", Type::Q8_0, {kEmbd, kVocab / 32});
    return w;
  }
  std::filesystem::path dir_;
  std::filesystem::path path_;
  strata::Status status_;
};

const SyntheticModel& synthetic() {
  static const SyntheticModel model;
  return model;
}

void BM_GgufOpenFromEnv(benchmark::State& state) {
  const char* path = std::getenv("STRATA_BENCH_GGUF");
  if (path == nullptr || *path == 0) {
    state.SkipWithError("set STRATA_BENCH_GGUF to a .gguf file to time opening and validating it");
    return;
  }
  for (auto _ : state) {
    auto file = File::open(path);
    if (!file.ok()) {
      state.SkipWithError(file.status().message().c_str());
      return;
    }
    benchmark::DoNotOptimize(file->tensors().data());
  }
}
BENCHMARK(BM_GgufOpenFromEnv)->Unit(benchmark::kMillisecond);

void BM_GgufOpenSynthetic8bTable(benchmark::State& state) {
  const SyntheticModel& model = synthetic();
  if (!model.status().ok()) {
    state.SkipWithError(model.status().message().c_str());
    return;
  }
  size_t tensors = 0, keys = 0;
  for (auto _ : state) {
    auto file = File::open(model.path());
    if (!file.ok()) {
      state.SkipWithError(file.status().message().c_str());
      return;
    }
    tensors = file->tensors().size();
    keys = file->metadata().size();
    benchmark::DoNotOptimize(file->find_tensor("blk.31.ffn_down.weight"));
  }
  state.counters["tensors"] = static_cast<double>(tensors);
  state.counters["keys"] = static_cast<double>(keys);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(std::filesystem::file_size(model.path())));
}
BENCHMARK(BM_GgufOpenSynthetic8bTable)->Unit(benchmark::kMillisecond);

// Lookups a model loader makes: every tensor by name, plus a few keys.
void BM_GgufLookups(benchmark::State& state) {
  const SyntheticModel& model = synthetic();
  auto file = File::open(model.path());
  if (!model.status().ok() || !file.ok()) {
    state.SkipWithError("synthetic file unavailable");
    return;
  }
  std::vector<std::string> names;
  for (const auto& t : file->tensors()) names.push_back(t.name);
  for (auto _ : state) {
    for (const auto& n : names) benchmark::DoNotOptimize(file->find_tensor(n));
    benchmark::DoNotOptimize(file->get_uint("llama.block_count"));
    benchmark::DoNotOptimize(file->find("tokenizer.ggml.tokens"));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * names.size()));
}
BENCHMARK(BM_GgufLookups);

}  // namespace
