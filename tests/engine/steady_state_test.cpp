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
#include "support/forwarding_backend.h"
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
class MarkingBackend final : public testing::ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;
  Status attention(const backend::AttentionCall& call) override {
    ++attention_calls;
    g_in_attention = true;
    Status s = inner_.attention(call);
    g_in_attention = false;
    return s;
  }
  long attention_calls = 0;
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
