// CPU matrix multiply y = x · Wᵀ for every weight type: the op a forward pass spends its time in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "core/status.h"
#include "core/thread_pool.h"
#include "quant/type.h"

namespace strata::backend::cpu {

// Reusable buffers of matmul (quantized activations, per-thread unpacked weight panels). It
// grows to the largest call it has seen and is reused after that, so steady-state calls do
// not allocate. One scratch serves one matmul call at a time.
class MatmulScratch {
 public:
  MatmulScratch();
  ~MatmulScratch();
  MatmulScratch(MatmulScratch&&) noexcept;
  MatmulScratch& operator=(MatmulScratch&&) noexcept;

  // Bytes currently held (for memory plans and tests).
  size_t bytes() const;

  struct Buffers;  // defined in matmul.cpp
  Buffers& buffers() { return *buffers_; }

 private:
  std::unique_ptr<Buffers> buffers_;
};

// Weight types matmul accepts: f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_K..q6_K,
// iq4_nl, iq4_xs.
bool can_matmul(quant::Type w_type);

// y[t * y_stride + r] = sum_k dequant(W row r)[k] * x[t * K + k], for t < n_tokens, r < n_rows.
// Row r of W starts at w + r * w_row_bytes. Quantized weights are multiplied with
// activations quantized to 8 bits (per 32 values, or per 256 for the K-quants and iq4_xs);
// f16 and bf16 weights with activations rounded to f16 / bf16 first, as llama.cpp does.
// Errors: an unsupported type, K not a multiple of the type's block size, rows shorter
// than K elements, y_stride < n_rows, negative sizes or null pointers.
Status matmul(quant::Type w_type, const void* w, size_t w_row_bytes, int64_t n_rows, int64_t K,
              const float* x, int64_t n_tokens, float* y, int64_t y_stride, ThreadPool& pool,
              MatmulScratch& scratch);

// One weight of a grouped call: n_rows rows of `type` from w, row_bytes apart; products go to
// y[t * y_stride + r].
struct MatmulWeight {
  quant::Type type = quant::Type::F32;
  const void* w = nullptr;
  size_t row_bytes = 0;
  int64_t n_rows = 0;
  float* y = nullptr;
  int64_t y_stride = 0;
};

// Most weights that share one activation preparation and one dispatch.
constexpr size_t kMaxGroup = 4;

// matmul for several weights that multiply the same activations (q, k and v; gate and up):
// the activations are quantized once and one dispatch splits every weight's rows over the
// threads, with no barrier between the weights. Decoding a token, that is one wake-up of the
// thread pool instead of three. Results are identical to one matmul() per weight. Weights
// whose activations are prepared differently (q8_0 next to q4_K, or f16) go in separate
// passes; at most 64 weights per call.
Status matmul_group(std::span<const MatmulWeight> weights, int64_t K, const float* x, int64_t n_tokens,
                    ThreadPool& pool, MatmulScratch& scratch);

// Same, with a scratch owned by the calling thread (kept for the thread's lifetime).
Status matmul(quant::Type w_type, const void* w, size_t w_row_bytes, int64_t n_rows, int64_t K,
              const float* x, int64_t n_tokens, float* y, int64_t y_stride, ThreadPool& pool);

}  // namespace strata::backend::cpu
