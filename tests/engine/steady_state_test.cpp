// Decode steps in steady state allocate nothing: scratch buffers are sized at load (or by the
// first calls) and reused. Counts global operator new calls around a few decode steps.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "backend/cpu/cpu_backend.h"
#include "engine/batch.h"
#include "model/model.h"
#include "model/tiny_model.h"
#include "support/temp_dir.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<bool> g_in_attention{false};
std::atomic<long> g_allocations{0};
std::atomic<long> g_attention_allocations{0};
}  // namespace

// Replaces the global allocation functions of this test program so allocations can be counted.
void* operator new(size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) {
    (g_in_attention.load(std::memory_order_relaxed) ? g_attention_allocations : g_allocations).fetch_add(1);
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace strata::engine {
namespace {

// Forwards every op to the CPU backend and marks the time spent inside attention, so that the
// count can say which op allocated.
class MarkingBackend final : public backend::Backend {
 public:
  explicit MarkingBackend(backend::Backend& inner) : inner_(inner) {}
  const backend::Capabilities& capabilities() const override { return inner_.capabilities(); }
  Status check_weight_type(std::string_view t, quant::Type type) const override {
    return inner_.check_weight_type(t, type);
  }
  Status check_kv_types(quant::Type k, quant::Type v, int hd) const override { return inner_.check_kv_types(k, v, hd); }
  Result<std::unique_ptr<backend::DeviceBuffer>> allocate(size_t bytes, std::string_view what) override {
    return inner_.allocate(bytes, what);
  }
  Result<backend::WeightView> load_weight(quant::Type type, std::span<const uint8_t> bytes, int64_t cols,
                                          int64_t rows) override {
    return inner_.load_weight(type, bytes, cols, rows);
  }
  Status write(void* d, const void* s, size_t n) override { return inner_.write(d, s, n); }
  Status read(void* d, const void* s, size_t n) override { return inner_.read(d, s, n); }
  Status copy(void* d, const void* s, size_t n) override { return inner_.copy(d, s, n); }
  Status get_rows(const backend::WeightView& t, std::span<const int32_t> ids, float* out) override {
    return inner_.get_rows(t, ids, out);
  }
  Status rms_norm(const float* x, const backend::WeightView& w, float* y, int64_t nt, int64_t n, float eps) override {
    return inner_.rms_norm(x, w, y, nt, n, eps);
  }
  Status matmul(const backend::WeightView& w, const float* x, int64_t nt, float* y, int64_t ys) override {
    return inner_.matmul(w, x, nt, y, ys);
  }
  Status add_bias(float* x, const backend::WeightView& b, int64_t nt, int64_t n, int64_t xs) override {
    return inner_.add_bias(x, b, nt, n, xs);
  }
  Result<std::unique_ptr<backend::RopeAngles>> create_rope(const backend::RopeParams& p) override {
    return inner_.create_rope(p);
  }
  Status rope(float* x, int64_t nt, int64_t nh, const backend::RopeAngles& a, int64_t xs) override {
    return inner_.rope(x, nt, nh, a, xs);
  }
  Status write_kv(quant::Type type, const float* src, int64_t rows, int64_t elems, void* dst, size_t ds,
                  int64_t ss) override {
    return inner_.write_kv(type, src, rows, elems, dst, ds, ss);
  }
  Status attention(const backend::AttentionCall& call) override {
    ++attention_calls;
    g_in_attention = true;
    Status s = inner_.attention(call);
    g_in_attention = false;
    return s;
  }
  Status swiglu(const float* g, const float* u, float* out, int64_t nt, int64_t n) override {
    return inner_.swiglu(g, u, out, nt, n);
  }
  Status add(const float* a, const float* b, float* out, int64_t nt, int64_t n) override {
    return inner_.add(a, b, out, nt, n);
  }
  long attention_calls = 0;

 private:
  backend::Backend& inner_;
};

TEST(SteadyStateTest, DecodeStepsDoNotAllocate) {
  testing::TempDir dir;
  testing::TinySpec spec;
  spec.weight_type = quant::Type::Q8_0;
  auto file = gguf::File::open(testing::write_tiny_model(spec, dir.path()));
  ASSERT_TRUE(file.ok());
  for (int threads : {1, 2}) {
    auto cpu = std::move(*backend::cpu::CpuBackend::create(threads));
    MarkingBackend marking(*cpu);
    backend::Backend* backend = &marking;
    model::ModelConfig config;
    config.kv.n_ctx = 64;
    config.kv.type_k = quant::Type::Q8_0;
    config.kv.type_v = quant::Type::Q4_0;
    config.n_batch = 8;
    auto model = std::move(*model::Model::load(*file, *backend, config));
    Batch batch(8);
    batch.add_sequence({1, 2, 3, 4, 5, 6}, 0, 0, false);
    ASSERT_TRUE(model->forward(batch.view()).ok());
    int32_t pos = 6;
    auto step = [&] {
      batch.clear();
      batch.add(7, pos++, 0, true);
      return model->forward(batch.view());
    };
    ASSERT_TRUE(step().ok());  // first decode step: scratch reaches its size
    g_allocations = 0;
    g_attention_allocations = 0;
    marking.attention_calls = 0;
    g_counting = true;
    bool ok = true;
    for (int i = 0; i < 5; ++i) ok = ok && step().ok();
    g_counting = false;
    EXPECT_TRUE(ok);
    EXPECT_EQ(g_allocations.load(), 0) << threads << " threads";
    // The pool dispatches lambdas by reference, so attention allocates nothing either.
    EXPECT_EQ(g_attention_allocations.load(), 0) << threads << " threads, " << marking.attention_calls
                                                  << " attention calls";
  }
}

}  // namespace
}  // namespace strata::engine
