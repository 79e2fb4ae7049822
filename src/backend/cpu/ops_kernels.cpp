// Portable row kernels of the non-matmul ops, and the choice of kernel table at run time.
#include "backend/cpu/ops_kernels.h"

#include <cstring>

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/ops_math.h"

namespace strata::backend::cpu {
namespace {

double sum_squares(const float* x, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  return sum;
}

void scale_mul(const float* x, float s, const float* w, float* y, int64_t n) {
  if (w == nullptr) {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * s;
    return;
  }
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * s) * w[i];
}

void swiglu(const float* g, const float* u, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = silu_approx(g[i]) * u[i];
}

void add(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void rope_normal(float* x, const float* c, const float* s, int64_t rope_dim) {
  for (int64_t j = 0; j + 1 < rope_dim; j += 2) {
    const float x0 = x[j];
    const float x1 = x[j + 1];
    x[j] = x0 * c[j] + x1 * s[j];
    x[j + 1] = x1 * c[j + 1] + x0 * s[j + 1];
  }
}

void rope_neox(float* x, const float* c, const float* s, int64_t rope_dim) {
  const int64_t half = rope_dim / 2;
  for (int64_t j = 0; j < half; ++j) {
    const float lo = x[j];
    const float hi = x[j + half];
    x[j] = lo * c[j] + hi * s[j];
    x[j + half] = hi * c[j + half] + lo * s[j + half];
  }
}

constexpr OpKernels kScalar = {sum_squares, scale_mul, swiglu, add, rope_normal, rope_neox};

}  // namespace

const OpKernels& scalar_op_kernels() { return kScalar; }

const OpKernels& active_op_kernels() {
  if (active_isa() != Isa::kScalar) {
    if (const OpKernels* k = avx2_op_kernels()) return *k;
  }
  return kScalar;
}

}  // namespace strata::backend::cpu
