// The f32 building blocks attention.cpp runs on tiles the row loaders produced, one table per
// instruction-set path (internal to backend/cpu). Shapes: head_dim a multiple of 16.
//
// Two score layouts. Row-major S[row][cell] suits few query rows (decode: one token, the heads
// of a group); Q·Kᵀ then reduces across head_dim. With many rows (prefill) the transposed
// layout St[cell][row] puts rows on vector lanes: Q·Kᵀ needs no horizontal sums and the
// softmax of all rows runs lane-parallel. Transposed row counts are padded to `lanes` with
// rows whose valid count is 0.
#pragma once

#include <cstdint>

namespace strata::backend::cpu::detail {

struct AttnKernels {
  // Rows per vector of the transposed kernels; tasks with at least this many rows use them.
  int lanes;

  // S[r * ld_s + c] = dot(Q row r, K row c) for r < rows, c < cells; Q is [rows][hd] and
  // K is [cells][hd], both dense.
  void (*qk)(const float* q, int rows, const float* k, int cells, int hd, float* s, int ld_s);

  // St[c * rows_pad + r] = dot(Q row r, K row c) with Q given transposed: qt[d * rows_pad + r].
  void (*qk_t)(const float* qt, int rows_pad, const float* k, int cells, int hd, float* st);

  // O[r * ld_o + d] += sum_c P[r * p_rs + c * p_cs] * V[c * hd + d] for r < rows, d < hd.
  void (*pv)(const float* p, int64_t p_rs, int64_t p_cs, int rows, const float* v, int cells, int hd, float* o,
             int ld_o);

  // One step of the online softmax over a tile of `cells` scores per row. Row r's first
  // valid[r] scores count (the causal mask is a prefix); the rest become 0. Updates the
  // running max m[r] and sum l[r]; corr[r] receives the factor the row's earlier output
  // must be multiplied by (exactly 1 when the max did not change). Scores become weights.
  void (*softmax_tile)(float* s, int ld_s, int rows, int cells, const int* valid, float* m, float* l,
                       float* corr);
  // The same on the transposed layout St[c * rows_pad + r], for all rows_pad rows.
  void (*softmax_tile_t)(float* st, int rows_pad, int cells, const int* valid, float* m, float* l, float* corr);

  // Exact softmax numerators of whole transposed rows (the plain path): row r's first
  // limit[r] scores become exp(s - row max), the rest up to `cells` 0; sum[r] = their sum.
  void (*softmax_rows_t)(float* st, int rows_pad, int cells, const int* limit, float* sum);

  // x[i] = exp(x[i] - max) for i < n; returns the sum (the plain path's row-major softmax).
  float (*exp_sum)(float* x, int n, float max);

  // Largest of n > 0 values.
  float (*max_of)(const float* x, int n);
};

const AttnKernels& attn_kernels_scalar();
// nullptr when the build has no such path.
const AttnKernels* attn_kernels_avx2();
const AttnKernels* attn_kernels_avx512();

}  // namespace strata::backend::cpu::detail
