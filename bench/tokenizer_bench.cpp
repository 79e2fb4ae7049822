// Tokenizer throughput (MB/s of input text) on ~1 MB of mixed-language text, for each
// reference vocabulary in ../shared/fixtures/tokenizer (or $STRATA_FIXTURES_DIR).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gguf/file.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace {

using strata::tokenizer::Tokenizer;
using strata::tokenizer::TokenId;

const char* const kVocabs[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-gpt-2.gguf"};

std::filesystem::path fixtures_dir() {
  if (const char* env = std::getenv("STRATA_FIXTURES_DIR"); env != nullptr && *env != 0) return env;
  // This file is bench/tokenizer_bench.cpp; the fixtures sit beside the checkout.
  return std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "shared" / "fixtures";
}

// ~1 MiB of text mixing what a server sees: prose, code, CJK, Cyrillic, emoji, numbers.
const std::string& mixed_text() {
  static const std::string text = [] {
    const char* snippets[] = {
        "The quick brown fox jumps over the lazy dog. It wasn't the first time, and it won't be the last; "
        "foxes, as everyone knows, are creatures of habit.\n\n",
        "In 1969, Apollo 11 landed on the Moon: 384,400 km away, after a flight of 8 days, 3 hours and "
        "18 minutes. Total cost: $25.4 billion (about $257 billion in 2020 dollars).\n",
        "def fibonacci(n: int) -> list[int]:\n    a, b = 0, 1\n    out = []\n    for _ in range(n):\n"
        "        out.append(a)\n        a, b = b, a + b\n    return out\n\n",
        "for (size_t i = 0; i < v.size(); ++i) {\n\tif (v[i] != nullptr && v[i]->ok()) { sum += v[i]->value; }\n}\n",
        "机器学习是人工智能的一个分支，它使计算机能够在没有明确编程的情况下从数据中学习。深度学习使用多层神经网络。\n",
        "Машинное обучение — это раздел искусственного интеллекта, изучающий методы построения алгоритмов, "
        "способных обучаться на данных.\n",
        "Great job! 🎉🎉 See you tomorrow 😀👍🏽 — love from 👨‍👩‍👧 and the team ✅\n",
        "3.14159265358979 2.71828182845904 1.41421356237309 6.02214076e23 0x7fffffff 1,234,567.89\n",
        "Ünïcödé àccents: café, naïve, façade, Zürich, São Paulo, Kraków, İstanbul, Ελληνικά.\n",
        "{\"model\": \"strata\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}], \"stream\": true}\n",
    };
    const size_t n = sizeof(snippets) / sizeof(snippets[0]);
    std::string out;
    uint64_t state = 0x243F6A8885A308D3ull;  // fixed seed: the same text every run
    while (out.size() < (1u << 20)) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      out += snippets[(state >> 33) % n];
    }
    return out;
  }();
  return text;
}

// Loaded once per vocabulary; null when the fixtures are missing.
const Tokenizer* load(const std::string& name, std::string* error) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  static std::map<std::string, std::string> errors;
  if (auto it = cache.find(name); it != cache.end()) return it->second.get();
  if (auto it = errors.find(name); it != errors.end()) {
    *error = it->second;
    return nullptr;
  }
  const auto path = fixtures_dir() / "tokenizer" / name;
  if (!std::filesystem::exists(path)) {
    errors[name] = "reference fixtures not found at '" + path.string() + "' (set STRATA_FIXTURES_DIR)";
  } else if (auto file = strata::gguf::File::open(path); !file.ok()) {
    errors[name] = file.status().to_string();
  } else if (auto tok = Tokenizer::from_gguf(*file); !tok.ok()) {
    errors[name] = tok.status().to_string();
  } else {
    cache[name] = std::make_unique<Tokenizer>(std::move(*tok));
    return cache[name].get();
  }
  *error = errors[name];
  return nullptr;
}

void BM_Tokenize(benchmark::State& state) {
  const std::string name = kVocabs[state.range(0)];
  state.SetLabel(name);
  std::string error;
  const Tokenizer* tok = load(name, &error);
  if (tok == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  const std::string& text = mixed_text();
  size_t n_tokens = 0;
  for (auto _ : state) {
    auto ids = tok->tokenize(text, {.add_special = false, .parse_special = false});
    if (!ids.ok()) {
      state.SkipWithError(ids.status().to_string().c_str());
      return;
    }
    n_tokens = ids->size();
    benchmark::DoNotOptimize(ids->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
  state.counters["bytes_per_token"] = static_cast<double>(text.size()) / static_cast<double>(n_tokens);
}
BENCHMARK(BM_Tokenize)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);

// The same text as 2 KB messages (cut at character boundaries), as chat requests arrive:
// too short for the per-call word cache, so every word is merged from scratch.
void BM_TokenizeMessages(benchmark::State& state) {
  const std::string name = kVocabs[state.range(0)];
  state.SetLabel(name);
  std::string error;
  const Tokenizer* tok = load(name, &error);
  if (tok == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  const std::string& text = mixed_text();
  std::vector<std::string_view> messages;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = std::min(text.size(), pos + 2048);
    while (end < text.size() && (static_cast<uint8_t>(text[end]) & 0xC0) == 0x80) ++end;
    messages.push_back(std::string_view(text).substr(pos, end - pos));
    pos = end;
  }
  for (auto _ : state) {
    for (std::string_view message : messages) {
      auto ids = tok->tokenize(message, {.add_special = false, .parse_special = false});
      if (!ids.ok()) {
        state.SkipWithError(ids.status().to_string().c_str());
        return;
      }
      benchmark::DoNotOptimize(ids->data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_TokenizeMessages)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);

// Streaming detokenization of the same text, one token at a time as generation does.
void BM_StreamDecode(benchmark::State& state) {
  const std::string name = kVocabs[state.range(0)];
  state.SetLabel(name);
  std::string error;
  const Tokenizer* tok = load(name, &error);
  if (tok == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  auto ids = tok->tokenize(mixed_text(), {.add_special = false, .parse_special = false});
  if (!ids.ok()) {
    state.SkipWithError(ids.status().to_string().c_str());
    return;
  }
  size_t out_bytes = 0;
  for (auto _ : state) {
    strata::tokenizer::StreamDecoder decoder(*tok);
    out_bytes = 0;
    for (TokenId id : *ids) out_bytes += decoder.push(id)->size();
    out_bytes += decoder.finish().size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * out_bytes));
}
BENCHMARK(BM_StreamDecode)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);

// Opening the GGUF and building the tables (merges, indexes): paid once per model load.
void BM_Load(benchmark::State& state) {
  const std::string name = kVocabs[state.range(0)];
  state.SetLabel(name);
  const auto path = fixtures_dir() / "tokenizer" / name;
  if (!std::filesystem::exists(path)) {
    state.SkipWithError(("reference fixtures not found at '" + path.string() + "'").c_str());
    return;
  }
  for (auto _ : state) {
    auto file = strata::gguf::File::open(path);
    auto tok = file.ok() ? Tokenizer::from_gguf(*file) : strata::Result<Tokenizer>(file.status());
    if (!tok.ok()) {
      state.SkipWithError(tok.status().to_string().c_str());
      return;
    }
    benchmark::DoNotOptimize(tok->size());
  }
}
BENCHMARK(BM_Load)->DenseRange(0, 2)->Unit(benchmark::kMillisecond);

}  // namespace
