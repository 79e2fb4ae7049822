// Throughput of synth (random blocks straight to disk) and quantize (dequantize + quantize rows).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <unistd.h>

#include "model/quantize_model.h"
#include "model/synth.h"

namespace {

using namespace strata;

std::filesystem::path scratch(const char* name) {
  return std::filesystem::temp_directory_path() / (std::string("strata-bench-") + std::to_string(::getpid()) + name);
}

model::SynthOptions options_for(const char* type, uint32_t n_layer) {
  model::SynthOptions options;
  options.hparams = *model::synth_preset("tiny", model::Arch::kLlama);
  options.hparams.n_layer = n_layer;
  options.hparams.n_embd = 1024;
  options.hparams.n_head = 16;
  options.hparams.n_head_kv = 4;
  options.hparams.n_ff = 2816;
  options.target = *model::parse_quant_target(type);
  options.n_threads = 2;
  return options;
}

// Bytes written per second, disk included: the figure `strata synth` reports.
void BM_SynthQ4KM(benchmark::State& state) {
  const auto path = scratch("-synth.gguf");
  const model::SynthOptions options = options_for("q4_K_M", 8);
  uint64_t bytes = 0;
  for (auto _ : state) {
    auto summary = model::synth_model(options, path);
    if (!summary.ok()) {
      state.SkipWithError(summary.status().message().c_str());
      break;
    }
    bytes += summary->file_bytes;
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  std::filesystem::remove(path);
}
BENCHMARK(BM_SynthQ4KM)->Unit(benchmark::kMillisecond)->UseRealTime();

// Input bytes (f32) converted per second.
void BM_QuantizeF32ToQ4KM(benchmark::State& state) {
  const auto in = scratch("-f32.gguf");
  const auto out = scratch("-q4km.gguf");
  if (!model::synth_model(options_for("f32", 2), in).ok()) {
    state.SkipWithError("synth failed");
    return;
  }
  model::QuantizeOptions options;
  options.target = *model::parse_quant_target("q4_K_M");
  options.n_threads = 2;
  uint64_t bytes = 0;
  for (auto _ : state) {
    auto plan = model::quantize_model(in, out, options);
    if (!plan.ok()) {
      state.SkipWithError(plan.status().message().c_str());
      break;
    }
    bytes += plan->bytes_in;
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  std::filesystem::remove(in);
  std::filesystem::remove(out);
}
BENCHMARK(BM_QuantizeF32ToQ4KM)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
