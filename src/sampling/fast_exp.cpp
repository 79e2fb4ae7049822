// exp_in_place: range reduction to [-ln2/2, ln2/2], a degree-6 polynomial, and 2^n built in
// the exponent bits; written with GCC vector extensions so it compiles to packed SSE/AVX code.
#include "sampling/fast_exp.h"

#include <cstdint>
#include <cmath>
#include <cstring>

namespace strata::sampling {

namespace {

using Floats = float __attribute__((vector_size(16)));
using Ints = int32_t __attribute__((vector_size(16)));
using Doubles = double __attribute__((vector_size(16)));
constexpr size_t kLanes = 4;

Floats splat(float v) { return Floats{v, v, v, v}; }

Floats exp4(Floats x) {
  const Floats lowest = splat(-87.0f);  // below this, 2^n would not be a normal float
  const Ints underflow = x < lowest;
  x = underflow ? lowest : x;
  // Adding and removing 1.5 * 2^23 rounds to the nearest integer without SSE4.1.
  const Floats magic = splat(12582912.0f);
  const Floats n = (x * splat(1.44269504088896341f) + magic) - magic;
  // ln 2 in two parts keeps r exact enough (Cody-Waite).
  const Floats r = (x - n * splat(0.693359375f)) - n * splat(-2.12194440e-4f);
  Floats poly = splat(1.0f / 720.0f);
  poly = poly * r + splat(1.0f / 120.0f);
  poly = poly * r + splat(1.0f / 24.0f);
  poly = poly * r + splat(1.0f / 6.0f);
  poly = poly * r + splat(0.5f);
  poly = poly * r + splat(1.0f);
  poly = poly * r + splat(1.0f);
  const Ints bits = (__builtin_convertvector(n, Ints) + 127) << 23;
  Floats scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  const Floats result = poly * scale;
  return underflow ? splat(0.0f) : result;
}

}  // namespace

double exp_in_place(float* x, size_t n) {
  Doubles sum0 = {0.0, 0.0};
  Doubles sum1 = {0.0, 0.0};
  size_t i = 0;
  auto step = [&](float* at) {
    Floats v;
    std::memcpy(&v, at, sizeof(v));
    v = exp4(v);
    std::memcpy(at, &v, sizeof(v));
    sum0 += Doubles{v[0], v[1]};
    sum1 += Doubles{v[2], v[3]};
  };
  for (; i + kLanes <= n; i += kLanes) step(x + i);
  if (i < n) {
    // The tail goes through the same vector code, padded with values that give 0.
    float tail[kLanes] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    std::memcpy(tail, x + i, (n - i) * sizeof(float));
    step(tail);
    std::memcpy(x + i, tail, (n - i) * sizeof(float));
  }
  const Doubles sum = sum0 + sum1;
  return sum[0] + sum[1];
}

}  // namespace strata::sampling
