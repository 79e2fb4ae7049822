// CPU ops of a Llama/Qwen2 layer other than matmul, RoPE (ops_rope.h) and attention: embedding
// lookup, RMSNorm, SwiGLU and the residual / bias / scale element-wise ops.
//
// Activations are f32, row-major [n_tokens][n]. Every op checks its arguments and returns an
// error Status instead of asserting; outputs may alias inputs where the comment says so. Large
// batches are split across the pool's threads; a single token runs on the calling thread
// (waking workers costs more than the op).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/status.h"
#include "core/thread_pool.h"
#include "quant/type.h"

namespace strata::backend::cpu {

// Embedding lookup: out row t (n_embd floats) = row ids[t] of a [n_vocab][n_embd] tensor of
// `type` whose row r starts at data + r * row_bytes, dequantized exactly as
// quant::dequantize_row does. Any type that quant can dequantize.
// Errors: an id outside [0, n_vocab) (names the id, its position and n_vocab), a type that
// cannot be dequantized, n_embd not a multiple of the type's block size, row_bytes shorter
// than a row, null pointers.
Status get_rows(quant::Type type, const void* data, size_t row_bytes, int64_t n_vocab, int64_t n_embd,
                std::span<const int32_t> ids, float* out, ThreadPool& pool);

// y = x / sqrt(mean(x²) + eps) * w for each of n_tokens rows of n, computed as llama.cpp
// does: the sum of squares in double, the scale 1/sqrtf(mean + eps) in float, then
// (x * scale) * w. y may equal x. w may be null (unit weights). eps must be finite and >= 0;
// an all-zero row with eps 0 gives NaN, as in llama.cpp.
Status rms_norm(const float* x, const float* w, float* y, int64_t n_tokens, int64_t n, float eps,
                ThreadPool& pool);

// out = silu(gate) * up, silu(g) = g / (1 + exp(-g)), element-wise over n_tokens x n, within
// 2e-7 relative of the exact value (exp is a vectorized polynomial, not libm's expf); 0 where
// g < -88 (the exact value is below 1e-36). out may equal gate or up.
Status swiglu(const float* gate, const float* up, float* out, int64_t n_tokens, int64_t n, ThreadPool& pool);

// out = a + b element-wise (the residual add). out may equal a or b.
Status add(const float* a, const float* b, float* out, int64_t n_tokens, int64_t n, ThreadPool& pool);

// x[t][i] += bias[i] for each of n_tokens rows; row t starts at x + t * x_stride (0 means n),
// so a bias can be added to the q, k or v slice of a fused projection output.
Status add_bias(float* x, const float* bias, int64_t n_tokens, int64_t n, ThreadPool& pool, int64_t x_stride = 0);

// y = x * s element-wise. y may equal x.
Status scale(const float* x, float s, float* y, int64_t n_tokens, int64_t n, ThreadPool& pool);

}  // namespace strata::backend::cpu
