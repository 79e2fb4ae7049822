// Scalar exp and silu of the op kernels: the same range reduction and polynomial as the
// vector versions in ops_kernels_avx2.cpp, so every path gives (nearly) the same values.
#pragma once

#include <cstdint>
#include <cstring>

namespace strata::backend::cpu {

// Beyond these, exp would leave the normal float range; callers clamp first.
inline constexpr float kExpMaxArg = 88.0f;
inline constexpr float kExpMinArg = -87.0f;

// exp(x) for x in [kExpMinArg, kExpMaxArg], within 2 ulp: x = n ln2 + r with |r| <= ln2 / 2
// (ln2 split in two so r is nearly exact), a degree-7 polynomial for exp(r) (Cephes' expf
// coefficients), and 2^n written into the exponent bits.
inline float exp_reduced(float x) {
  // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (ties to even), as the
  // vector path's round instruction does.
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * (r * r) + r + 1.0f;
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return y * two_n;
}

// silu(g) = g / (1 + exp(-g)). Below -kExpMaxArg the true value is under 1e-36 in
// magnitude and 0 is returned; above -kExpMinArg exp(-g) is too small to change 1 + exp(-g).
inline float silu_approx(float g) {
  if (g < -kExpMaxArg) return 0.0f;
  // Written so that NaN clamps too: the NaN then comes back through g, and exp_reduced
  // never converts a NaN to an integer.
  float z = -g;
  z = z > kExpMinArg ? z : kExpMinArg;
  z = z < kExpMaxArg ? z : kExpMaxArg;
  return g / (1.0f + exp_reduced(z));
}

}  // namespace strata::backend::cpu
