// CPU attention of one layer: decode (1 token) and prefill (512 tokens) after `depth` cached
// tokens, for the 1b shape (32 heads, 4 kv heads, head dim 64) and the 8b shape (32/8/128),
// per K/V type pair and thread count. Each iteration runs the next of several layers' caches
// (as many as make ~128 MiB of f16 cache, at most 22), so the cache streams from memory as
// in a whole model instead of sitting in L3 (env STRATA_ATTN_BENCH_CYCLE_MB changes the
// 128; 0 keeps one layer, cache-hot). Items = query tokens processed. Flash attention
// throughout; the "/fa0" rows run the plain path at depth 2048 for comparison. Env
// STRATA_ATTN_BENCH_ISA=scalar|avx2|avx512 forces an instruction-set path.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/attention.h"
#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/kv_rows.h"
#include "core/thread_pool.h"
#include "quant/type.h"

namespace {

using strata::quant::Type;
namespace cpu = strata::backend::cpu;

struct ModelShape {
  const char* name;
  int n_head, n_head_kv, head_dim;
};

constexpr ModelShape kShapes[] = {{"1b", 32, 4, 64}, {"8b", 32, 8, 128}};
constexpr int64_t kDepths[] = {512, 2048, 8192};
constexpr std::pair<Type, Type> kPairs[] = {{Type::F16, Type::F16},
                                            {Type::Q8_0, Type::Q8_0},
                                            {Type::Q8_0, Type::Q4_0},
                                            {Type::Q4_0, Type::Q4_0},
                                            {Type::F32, Type::F32}};
constexpr int64_t kPrefillTokens = 512;
constexpr int kMaxLayers = 22;

double cycle_bytes() {
  const char* env = std::getenv("STRATA_ATTN_BENCH_CYCLE_MB");
  return (env != nullptr ? std::atof(env) : 128.0) * 1024 * 1024;
}

strata::ThreadPool& pool(int threads) {
  static strata::ThreadPool one(1), two(2);
  return threads == 1 ? one : two;
}

struct Layer {
  std::vector<uint8_t> k, v;
};

void bm_attention(benchmark::State& state, ModelShape shape, int64_t depth, bool prefill, Type kt, Type vt,
                  int threads, bool flash) {
  const int64_t n_tokens = prefill ? kPrefillTokens : 1;
  const int64_t n_kv = depth + n_tokens;
  const int64_t width = static_cast<int64_t>(shape.n_head_kv) * shape.head_dim;
  const size_t k_row = strata::quant::row_bytes(kt, static_cast<uint64_t>(width)).value();
  const size_t v_row = strata::quant::row_bytes(vt, static_cast<uint64_t>(width)).value();
  const double f16_layer = static_cast<double>(n_kv) * static_cast<double>(width) * 2 * 2;
  const int n_layers = std::clamp(static_cast<int>(std::ceil(cycle_bytes() / f16_layer)), 1, kMaxLayers);

  // Random K/V written through the cache writers (one source block reused for speed).
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.f, 1.f);
  const int64_t src_rows = 256;
  std::vector<float> src(static_cast<size_t>(src_rows * width));
  for (float& x : src) x = normal(rng);
  std::vector<Layer> layers(static_cast<size_t>(n_layers));
  for (Layer& layer : layers) {
    layer.k.resize(k_row * static_cast<size_t>(n_kv));
    layer.v.resize(v_row * static_cast<size_t>(n_kv));
    for (int64_t r = 0; r < n_kv; r += src_rows) {
      const int64_t n = std::min(src_rows, n_kv - r);
      const int64_t shift = static_cast<int64_t>(rng() % static_cast<uint32_t>(src_rows - n + 1));
      (void)cpu::write_kv_rows(kt, src.data() + shift * width, n, width, layer.k.data() + r * k_row, k_row);
      (void)cpu::write_kv_rows(vt, src.data() + shift * width, n, width, layer.v.data() + r * v_row, v_row);
    }
  }
  std::vector<float> q(static_cast<size_t>(n_tokens * shape.n_head * shape.head_dim));
  for (float& x : q) x = normal(rng);
  std::vector<float> out(q.size());
  std::vector<int32_t> pos(static_cast<size_t>(n_tokens));
  for (int64_t i = 0; i < n_tokens; ++i) pos[static_cast<size_t>(i)] = static_cast<int32_t>(depth + i);

  cpu::AttentionArgs a;
  a.q = q.data();
  a.pos = pos.data();
  a.n_tokens = n_tokens;
  a.k_type = kt;
  a.k_stride = k_row;
  a.v_type = vt;
  a.v_stride = v_row;
  a.n_kv = n_kv;
  a.n_head = shape.n_head;
  a.n_head_kv = shape.n_head_kv;
  a.head_dim = shape.head_dim;
  a.scale = 1.f / std::sqrt(static_cast<float>(shape.head_dim));
  a.flash = flash;
  a.out = out.data();
  cpu::AttentionScratch scratch;
  size_t layer = 0;
  for (auto _ : state) {
    a.k = layers[layer].k.data();
    a.v = layers[layer].v.data();
    layer = (layer + 1) % layers.size();
    const strata::Status st = cpu::attention(a, pool(threads), scratch);
    if (!st.ok()) {
      state.SkipWithError(st.to_string().c_str());
      return;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n_tokens);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>((k_row + v_row) * static_cast<size_t>(n_kv)));
  state.counters["layers"] = n_layers;
}

void add(const ModelShape& shape, bool prefill, int64_t depth, Type kt, Type vt, int threads, bool flash) {
  const std::string name = std::string("attn/") + shape.name + (prefill ? "/pp512" : "/tg1") + "/d" +
                           std::to_string(depth) + "/" + std::string(strata::quant::type_name(kt)) + "-" +
                           std::string(strata::quant::type_name(vt)) + (flash ? "" : "/fa0") + "/t" +
                           std::to_string(threads);
  benchmark::RegisterBenchmark(name.c_str(), bm_attention, shape, depth, prefill, kt, vt, threads, flash)
      ->Unit(benchmark::kMillisecond)
      ->MinTime(prefill ? 0.5 : 0.2)
      ->UseRealTime();
}

const bool registered = [] {
  if (const char* isa = std::getenv("STRATA_ATTN_BENCH_ISA"); isa != nullptr) {
    for (cpu::Isa candidate : {cpu::Isa::kScalar, cpu::Isa::kAvx2, cpu::Isa::kAvx512}) {
      if (cpu::isa_name(candidate) == isa) (void)cpu::force_isa(candidate);
    }
  }
  for (const ModelShape& shape : kShapes) {
    for (bool prefill : {false, true}) {
      for (int64_t depth : kDepths) {
        for (auto [kt, vt] : kPairs) {
          for (int threads : {1, 2}) add(shape, prefill, depth, kt, vt, threads, true);
        }
      }
      for (auto [kt, vt] : {kPairs[0], kPairs[2]}) {
        for (int threads : {1, 2}) add(shape, prefill, 2048, kt, vt, threads, false);
      }
    }
  }
  return true;
}();

}  // namespace
