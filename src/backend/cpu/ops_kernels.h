// The row kernels behind ops.h and ops_rope.h, one table per instruction set (scalar, AVX2),
// chosen at run time from cpu_isa's active path.
#pragma once

#include <cstdint>

namespace strata::backend::cpu {

struct OpKernels {
  // sum of (double)(x[i] * x[i]): each square rounded to float, the sum kept in double, as
  // llama.cpp's RMSNorm does (the order of the double additions may differ).
  double (*sum_squares)(const float* x, int64_t n);
  // y[i] = (x[i] * s) * w[i], or x[i] * s when w is null. y may equal x.
  void (*scale_mul)(const float* x, float s, const float* w, float* y, int64_t n);
  // out[i] = silu(g[i]) * u[i]. out may equal g or u.
  void (*swiglu)(const float* g, const float* u, float* out, int64_t n);
  // out[i] = a[i] + b[i]. out may equal a or b.
  void (*add)(const float* a, const float* b, float* out, int64_t n);
  // One head's first rope_dim values rotated in place: out[j] = x[j] * c[j] + x[p(j)] * s[j],
  // with the partner p(j) = j ^ 1 (normal) or j +- rope_dim / 2 (neox), and s holding the
  // signed sines (see RopeTable).
  void (*rope_normal)(float* x, const float* c, const float* s, int64_t rope_dim);
  void (*rope_neox)(float* x, const float* c, const float* s, int64_t rope_dim);
};

const OpKernels& scalar_op_kernels();
// nullptr when the library was built for a CPU family without that path.
const OpKernels* avx2_op_kernels();

// The table for cpu_isa's active path (AVX2 kernels also serve AVX-512 CPUs: these ops are
// bound by memory, not by vector width).
const OpKernels& active_op_kernels();

}  // namespace strata::backend::cpu
