// One RoPE rotation, shared by the rope kernel (ops.cu) and the K writer that rotates K rows
// as it stores them (kv_write.cu). Explicit round-to-nearest operations: the two files are
// compiled with different --fmad settings and must give the same bits.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace strata::backend::cuda {

// The rotated pair (x0, x1) = (head[a], head[b]) by the angle whose (cos, sin) is cs.
__device__ __forceinline__ float rope_first(float x0, float x1, float2 cs) {
  return __fsub_rn(__fmul_rn(x0, cs.x), __fmul_rn(x1, cs.y));
}
__device__ __forceinline__ float rope_second(float x0, float x1, float2 cs) {
  return __fadd_rn(__fmul_rn(x1, cs.x), __fmul_rn(x0, cs.y));
}

// Pair i of a head: elements (i, i + half) in NeoX mode, (2i, 2i + 1) otherwise.
__device__ __forceinline__ int64_t rope_a(int64_t i, int64_t half, bool neox) { return neox ? i : 2 * i; }
__device__ __forceinline__ int64_t rope_b(int64_t i, int64_t half, bool neox) { return neox ? i + half : 2 * i + 1; }

// Rotates pair i of a head in place.
__device__ __forceinline__ void rope_rotate_pair(float* head, int64_t i, int64_t half, bool neox, float2 cs) {
  const int64_t a = rope_a(i, half, neox);
  const int64_t b = rope_b(i, half, neox);
  const float x0 = head[a];
  const float x1 = head[b];
  head[a] = rope_first(x0, x1, cs);
  head[b] = rope_second(x0, x1, cs);
}

// Element e of a head after the rotation, read from the unrotated head; `angles` is the
// token's row of the (cos, sin) table. Elements past the rotated span (partial rotary) stay.
__device__ __forceinline__ float roped_element(const float* head, int64_t e, int64_t half, bool neox,
                                               const float2* angles) {
  if (e >= 2 * half) return head[e];
  const bool first = neox ? e < half : (e & 1) == 0;
  const int64_t i = neox ? (first ? e : e - half) : e >> 1;
  const float x0 = head[rope_a(i, half, neox)];
  const float x1 = head[rope_b(i, half, neox)];
  return first ? rope_first(x0, x1, angles[i]) : rope_second(x0, x1, angles[i]);
}

}  // namespace strata::backend::cuda
