// Throughput of the reference converters and the random block writer on 4096-element rows.
// Bytes processed count the float side (4 bytes per element) so rates compare across types.
#include <benchmark/benchmark.h>

#include <cmath>
#include <string>
#include <vector>

#include "quant/convert.h"
#include "quant/random_blocks.h"
#include "quant/type.h"

namespace {

using strata::quant::Type;

constexpr int64_t kRow = 4096;

const Type kTypes[] = {Type::F32,  Type::F16,  Type::BF16, Type::Q4_0, Type::Q4_1,
                       Type::Q5_0, Type::Q5_1, Type::Q8_0, Type::Q2_K, Type::Q3_K,
                       Type::Q4_K, Type::Q5_K, Type::Q6_K, Type::IQ4_NL, Type::IQ4_XS};

std::vector<float> sample_row() {
  std::vector<float> x(kRow);
  for (int64_t i = 0; i < kRow; ++i) {
    x[static_cast<size_t>(i)] = std::sin(0.1f * static_cast<float>(i)) + 0.3f * std::cos(0.77f * static_cast<float>(i));
  }
  return x;
}

void set_counters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kRow);
  state.SetBytesProcessed(state.iterations() * kRow * static_cast<int64_t>(sizeof(float)));
}

void bm_dequantize(benchmark::State& state, Type type) {
  const std::vector<float> x = sample_row();
  std::vector<uint8_t> q(strata::quant::row_bytes(type, kRow).value());
  if (!strata::quant::quantize_row(type, x.data(), q.data(), kRow).ok()) {
    state.SkipWithError("quantize failed");
    return;
  }
  std::vector<float> y(kRow);
  for (auto _ : state) {
    benchmark::DoNotOptimize(strata::quant::dequantize_row(type, q.data(), y.data(), kRow));
    benchmark::ClobberMemory();
  }
  set_counters(state);
}

void bm_quantize(benchmark::State& state, Type type) {
  const std::vector<float> x = sample_row();
  std::vector<uint8_t> q(strata::quant::row_bytes(type, kRow).value());
  for (auto _ : state) {
    benchmark::DoNotOptimize(strata::quant::quantize_row(type, x.data(), q.data(), kRow));
    benchmark::ClobberMemory();
  }
  set_counters(state);
}

// Reported on the float side too (the values the row stands for); the block bytes written
// per second are this rate times block_bytes / (4 * block_size).
void bm_fill_random(benchmark::State& state, Type type) {
  std::vector<uint8_t> q(strata::quant::row_bytes(type, kRow).value());
  uint64_t seed = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(strata::quant::fill_random_row(type, seed++, 1.f, q.data(), kRow));
    benchmark::ClobberMemory();
  }
  set_counters(state);
  state.counters["block_bytes/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * static_cast<double>(q.size()), benchmark::Counter::kIsRate);
}

int register_all() {
  for (Type t : kTypes) {
    const std::string name(strata::quant::type_name(t));
    benchmark::RegisterBenchmark(("dequantize/" + name).c_str(), bm_dequantize, t);
    benchmark::RegisterBenchmark(("quantize/" + name).c_str(), bm_quantize, t);
    benchmark::RegisterBenchmark(("fill_random/" + name).c_str(), bm_fill_random, t);
  }
  return 0;
}
const int registered = register_all();

}  // namespace
