// CPU attention of one sequence and one layer over a KV cache whose K and V element types
// are chosen independently at run time: flash (tiled, online softmax) and plain paths.
//
// Cache layout. One layer of one sequence is a K area and a V area. Each holds one row per
// cell (position) 0..n_kv-1; row c starts at k + c * k_stride bytes (v + c * v_stride) and
// holds n_head_kv heads of head_dim elements of k_type (v_type), head after head, i.e.
// exactly write_kv_rows() of the [n_head_kv][head_dim] floats of that position. A head's
// slice starts at byte kv_head * row_bytes(type, head_dim). Rows need no alignment.
//
// Queries and output are f32 [n_tokens][n_head][head_dim]; token t's head h starts at
// q + t * q_stride + h * head_dim (out likewise). Token t attends cells 0..pos[t] (causal,
// inclusive), so its own K/V must already be written at cell pos[t]. Query head h reads
// KV head h / (n_head / n_head_kv) (grouped-query attention).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/status.h"
#include "core/thread_pool.h"
#include "quant/type.h"

namespace strata::backend::cpu {

struct AttentionArgs {
  const float* q = nullptr;
  int64_t q_stride = 0;    // floats between tokens; 0: n_head * head_dim
  const int32_t* pos = nullptr;  // n_tokens cell indices, each in [0, n_kv)
  int64_t n_tokens = 0;

  quant::Type k_type = quant::Type::F16;
  const void* k = nullptr;
  size_t k_stride = 0;     // bytes between cells
  quant::Type v_type = quant::Type::F16;
  const void* v = nullptr;
  size_t v_stride = 0;
  int64_t n_kv = 0;        // cells filled

  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;        // a multiple of 16; of 32 for the block types
  float scale = 0.f;       // usually 1/sqrt(head_dim)
  bool flash = true;       // false: the plain path (-fa off)

  float* out = nullptr;
  int64_t out_stride = 0;  // floats between tokens; 0: n_head * head_dim
};

// Per-thread tiles and score buffers, kept between calls so that steady-state calls do not
// allocate (they grow to the largest call seen). One scratch serves one call at a time.
class AttentionScratch {
 public:
  AttentionScratch();
  ~AttentionScratch();
  AttentionScratch(AttentionScratch&&) noexcept;
  AttentionScratch& operator=(AttentionScratch&&) noexcept;

  size_t bytes() const;

  struct Buffers;  // defined in attention.cpp
  Buffers& buffers() { return *buffers_; }

 private:
  std::unique_ptr<Buffers> buffers_;
};

// Checks a K/V type pair against a head dim (what a cache may be created with); the error
// names the offending type and lists the types that work for this head dim.
Status check_attention_types(quant::Type k_type, quant::Type v_type, int head_dim);

// out = softmax(scale * q kᵀ over the attended cells) v for every token and head. Uses the
// instruction-set path of cpu_isa's active_isa(). Errors: types or head dim (as above),
// shapes (n_head not a multiple of n_head_kv, strides shorter than a row), n_kv < 1, a
// position outside [0, n_kv), null pointers, a non-finite scale.
Status attention(const AttentionArgs& args, ThreadPool& pool, AttentionScratch& scratch);

}  // namespace strata::backend::cpu
