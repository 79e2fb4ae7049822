// Speed of the non-matmul CPU ops (get_rows, rms_norm, rope, swiglu, add, add_bias, scale) at
// 1b and 8b shapes, for a decode step (1 token) and a prefill (512 tokens), on 1 and 2
// threads; plus all of one layer's non-matmul ops together, to set against the matmuls.
//
// Arguments of every benchmark: model (0 = 1b: TinyLlama-1.1B, n_embd 2048, n_ff 5632, 32
// heads of 64, 4 kv heads; 1 = 8b: Llama-3-8B, n_embd 4096, n_ff 14336, 32 heads of 128, 8 kv
// heads, rope_freqs), tokens, threads. The "per_token" counter is the time per token.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "backend/cpu/ops.h"
#include "backend/cpu/ops_rope.h"
#include "core/thread_pool.h"
#include "quant/random_blocks.h"
#include "quant/type.h"

namespace {

using strata::ThreadPool;
using namespace strata::backend::cpu;
using strata::quant::Type;

struct ModelShape {
  const char* name;
  int64_t n_embd;
  int64_t n_ff;
  int64_t n_head;
  int64_t n_head_kv;
  int64_t head_dim;
  float freq_base;
  bool freq_factors;
};
constexpr ModelShape kModels[] = {
    {"1b", 2048, 5632, 32, 4, 64, 10000.f, false},
    {"8b", 4096, 14336, 32, 8, 128, 500000.f, true},
};

ThreadPool& pool_of(int64_t threads) {
  static ThreadPool one(1), two(2);
  return threads >= 2 ? two : one;
}

std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = dist(gen);
  return v;
}

struct Setup {
  const ModelShape& model;
  int64_t tokens;
  ThreadPool& pool;
  explicit Setup(benchmark::State& state)
      : model(kModels[state.range(0)]), tokens(state.range(1)), pool(pool_of(state.range(2))) {
    state.SetLabel(model.name);
  }
  void finish(benchmark::State& state, int64_t bytes_per_token) const {
    state.SetBytesProcessed(state.iterations() * tokens * bytes_per_token);
    state.counters["per_token"] = benchmark::Counter(static_cast<double>(tokens),
                                                     benchmark::Counter::kIsIterationInvariantRate |
                                                         benchmark::Counter::kInvert);
  }
};

RopeTable make_table(const ModelShape& m, int64_t tokens, ThreadPool& pool) {
  RopeConfig config;
  config.head_dim = m.head_dim;
  config.mode = RopeMode::kNormal;
  config.freq_base = m.freq_base;
  if (m.freq_factors) config.freq_factors.assign(static_cast<size_t>(m.head_dim / 2), 2.f);
  RopeTable table = RopeTable::create(config).value();
  std::vector<int32_t> positions(static_cast<size_t>(tokens));
  for (size_t t = 0; t < positions.size(); ++t) positions[t] = static_cast<int32_t>(1000 + t);
  (void)table.set_positions(positions, pool);
  return table;
}

void BM_get_rows_q4_K(benchmark::State& state) {
  Setup s(state);
  const int64_t n_vocab = 4096;  // enough distinct rows to leave the caches; the op does not depend on it
  const size_t row_bytes = strata::quant::row_bytes(Type::Q4_K, static_cast<uint64_t>(s.model.n_embd)).value();
  std::vector<uint8_t> table(row_bytes * n_vocab);
  for (int64_t r = 0; r < n_vocab; ++r) {
    (void)strata::quant::fill_random_row(Type::Q4_K, static_cast<uint64_t>(r), 0.05f, table.data() + r * row_bytes,
                                         s.model.n_embd);
  }
  std::vector<int32_t> ids(static_cast<size_t>(s.tokens));
  std::mt19937 gen(3);
  for (int32_t& id : ids) id = static_cast<int32_t>(gen() % n_vocab);
  std::vector<float> out(static_cast<size_t>(s.tokens * s.model.n_embd));
  for (auto _ : state) {
    (void)get_rows(Type::Q4_K, table.data(), row_bytes, n_vocab, s.model.n_embd, ids, out.data(), s.pool);
    benchmark::DoNotOptimize(out.data());
  }
  s.finish(state, s.model.n_embd * 4);
}

void BM_rms_norm(benchmark::State& state) {
  Setup s(state);
  const int64_t n = s.model.n_embd;
  const std::vector<float> x = random_floats(s.tokens * n, 1);
  const std::vector<float> w = random_floats(n, 2);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    (void)rms_norm(x.data(), w.data(), y.data(), s.tokens, n, 1e-5f, s.pool);
    benchmark::DoNotOptimize(y.data());
  }
  s.finish(state, n * 8);
}

// q and k of one layer with a table built beforehand (once per forward pass).
void BM_rope_qk(benchmark::State& state) {
  Setup s(state);
  const RopeTable table = make_table(s.model, s.tokens, s.pool);
  std::vector<float> q = random_floats(s.tokens * s.model.n_head * s.model.head_dim, 1);
  std::vector<float> k = random_floats(s.tokens * s.model.n_head_kv * s.model.head_dim, 2);
  for (auto _ : state) {
    (void)rope(q.data(), s.tokens, s.model.n_head, table, s.pool);
    (void)rope(k.data(), s.tokens, s.model.n_head_kv, table, s.pool);
    benchmark::DoNotOptimize(q.data());
  }
  s.finish(state, (s.model.n_head + s.model.n_head_kv) * s.model.head_dim * 8);
}

// Building the cos/sin table: once per forward pass, shared by every layer.
void BM_rope_table(benchmark::State& state) {
  Setup s(state);
  RopeTable table = make_table(s.model, s.tokens, s.pool);
  std::vector<int32_t> positions(static_cast<size_t>(s.tokens));
  for (size_t t = 0; t < positions.size(); ++t) positions[t] = static_cast<int32_t>(1000 + t);
  for (auto _ : state) {
    (void)table.set_positions(positions, s.pool);
    benchmark::DoNotOptimize(table.cos_row(0));
  }
  s.finish(state, s.model.head_dim * 8);
}

void BM_swiglu(benchmark::State& state) {
  Setup s(state);
  const int64_t n = s.model.n_ff;
  const std::vector<float> g = random_floats(s.tokens * n, 1);
  const std::vector<float> u = random_floats(s.tokens * n, 2);
  std::vector<float> out(g.size());
  for (auto _ : state) {
    (void)swiglu(g.data(), u.data(), out.data(), s.tokens, n, s.pool);
    benchmark::DoNotOptimize(out.data());
  }
  s.finish(state, n * 12);
}

void BM_add(benchmark::State& state) {
  Setup s(state);
  const int64_t n = s.model.n_embd;
  const std::vector<float> b = random_floats(s.tokens * n, 2);
  std::vector<float> a = random_floats(s.tokens * n, 1);
  for (auto _ : state) {
    (void)add(a.data(), b.data(), a.data(), s.tokens, n, s.pool);
    benchmark::DoNotOptimize(a.data());
  }
  s.finish(state, n * 12);
}

void BM_add_bias(benchmark::State& state) {
  Setup s(state);
  const int64_t n = s.model.n_embd;
  const std::vector<float> bias = random_floats(n, 2);
  std::vector<float> x = random_floats(s.tokens * n, 1);
  for (auto _ : state) {
    (void)add_bias(x.data(), bias.data(), s.tokens, n, s.pool);
    benchmark::DoNotOptimize(x.data());
  }
  s.finish(state, n * 8);
}

void BM_scale(benchmark::State& state) {
  Setup s(state);
  const int64_t n = s.model.n_embd;
  std::vector<float> x = random_floats(s.tokens * n, 1);
  for (auto _ : state) {
    (void)scale(x.data(), 1.0f, x.data(), s.tokens, n, s.pool);
    benchmark::DoNotOptimize(x.data());
  }
  s.finish(state, n * 8);
}

// Every non-matmul op of one layer, in forward-pass order: norm, rope q and k, residual add,
// norm, swiglu, residual add. per_token x n_layer is the decode step's share of these ops.
void BM_layer_ops(benchmark::State& state) {
  Setup s(state);
  const ModelShape& m = s.model;
  const int64_t t = s.tokens;
  const RopeTable table = make_table(m, t, s.pool);
  std::vector<float> hidden = random_floats(t * m.n_embd, 1);
  const std::vector<float> w = random_floats(m.n_embd, 2);
  std::vector<float> normed(hidden.size());
  std::vector<float> q = random_floats(t * m.n_head * m.head_dim, 3);
  std::vector<float> k = random_floats(t * m.n_head_kv * m.head_dim, 4);
  const std::vector<float> attn_out = random_floats(t * m.n_embd, 5);
  const std::vector<float> gate = random_floats(t * m.n_ff, 6);
  const std::vector<float> up = random_floats(t * m.n_ff, 7);
  std::vector<float> act(gate.size());
  for (auto _ : state) {
    (void)rms_norm(hidden.data(), w.data(), normed.data(), t, m.n_embd, 1e-5f, s.pool);
    (void)rope(q.data(), t, m.n_head, table, s.pool);
    (void)rope(k.data(), t, m.n_head_kv, table, s.pool);
    (void)add(hidden.data(), attn_out.data(), hidden.data(), t, m.n_embd, s.pool);
    (void)rms_norm(hidden.data(), w.data(), normed.data(), t, m.n_embd, 1e-5f, s.pool);
    (void)swiglu(gate.data(), up.data(), act.data(), t, m.n_ff, s.pool);
    (void)add(hidden.data(), attn_out.data(), hidden.data(), t, m.n_embd, s.pool);
    benchmark::DoNotOptimize(act.data());
  }
  s.finish(state, 0);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"model", "tokens", "threads"});
  for (int64_t model : {0, 1}) {
    for (int64_t tokens : {1, 512}) {
      for (int64_t threads : {1, 2}) b->Args({model, tokens, threads});
    }
  }
  b->UseRealTime();
}

BENCHMARK(BM_get_rows_q4_K)->Apply(shapes);
BENCHMARK(BM_rms_norm)->Apply(shapes);
BENCHMARK(BM_rope_qk)->Apply(shapes);
BENCHMARK(BM_rope_table)->Apply(shapes);
BENCHMARK(BM_swiglu)->Apply(shapes);
BENCHMARK(BM_add)->Apply(shapes);
BENCHMARK(BM_add_bias)->Apply(shapes);
BENCHMARK(BM_scale)->Apply(shapes);
BENCHMARK(BM_layer_ops)->Apply(shapes);

}  // namespace
