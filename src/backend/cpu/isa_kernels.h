// The contract between matmul.cpp (checks, buffers, threads) and each instruction-set path
// (scalar, AVX2, AVX-512): the data each kernel sees and the table of entry points.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/type.h"

namespace strata::backend::cpu {

// How activations are quantized for integer dot products.
enum class ActMode {
  kPer32,   // one scale per 32 values (q8_0-like): the 32-element formats
  kPer256,  // one scale per 256 values (q8_K-like): the K-quants and iq4_xs
};

// How a quantized weight type decodes to integers: sub-blocks of `group` values, each
// w[k] = scale * q[k] + bias with q unsigned 8-bit, or signed 8-bit for `is_signed`.
struct QuantLayout {
  int group;           // 16 or 32
  bool is_signed;      // q8_0, iq4_nl, iq4_xs
  ActMode act_mode;
  int block_elems;     // 32 or 256
  int block_bytes;
};

// nullptr for float types and types without an integer kernel.
const QuantLayout* quant_layout(quant::Type type);

// Quantized activations of a batch: token t's values start at qs + t * qs_stride (int8,
// zero-padded to qs_stride), its per-32 scales at d32 + t * n32_stride, and so on. For
// kPer256 every d32 entry of a 256-block holds the block's scale.
struct QuantActs {
  const int8_t* qs = nullptr;
  int64_t qs_stride = 0;
  const float* d32 = nullptr;    // scale of each 32-block
  const float* s32 = nullptr;    // scale * sum of q over each 32-block
  int64_t n32_stride = 0;
  const int32_t* neg_sum32 = nullptr;  // minus the sum of q over each 32-block
  const float* s16 = nullptr;    // scale * sum of q over each 16-block
  const int16_t* bsum16 = nullptr;  // sum of q over each 16-block
  const int32_t* neg_sum16 = nullptr;  // minus the sum of q over each 16-block
  int64_t n16_stride = 0;
};

// Where quantize_acts writes one token (the arrays of QuantActs at that token).
struct ActRowOut {
  int8_t* qs;
  float* d32;
  float* s32;
  int32_t* neg_sum32;
  float* s16;
  int16_t* bsum16;
  int32_t* neg_sum16;
};

// One thread's share of a matmul: rows [row_begin, row_end) for every token.
struct RowJob {
  quant::Type type;
  const uint8_t* w;       // row 0 (not row_begin)
  size_t row_bytes;
  int64_t k;
  int64_t row_begin, row_end;
  int64_t n_tokens;
  float* y;
  int64_t y_stride;
  const QuantActs* acts;  // integer formats
  const float* xf;        // float formats: activations (rounded to the weight's precision)
  int64_t xf_stride;
  uint8_t* scratch;       // thread-private, at least scratch_bytes_per_thread(k), 64-aligned
  int64_t prefetch_ahead = 0;  // decode (rows in one pass): software prefetch distance in bytes (0: none)
};

// Per-thread scratch the kernels may use for a row length k.
size_t scratch_bytes_per_thread(int64_t k);

struct IsaKernels {
  // One token's activations quantized (k a multiple of 32, and of 256 for kPer256).
  // Identical results on every path.
  void (*quantize_acts)(const float* x, int64_t k, ActMode mode, const ActRowOut& out);
  // x rounded to f16 (type F16) or bf16 (type BF16) precision, kept as float.
  void (*round_acts)(quant::Type type, const float* x, float* out, int64_t k);
  void (*quant_rows)(const RowJob& job);  // integer formats
  void (*float_rows)(const RowJob& job);  // F32, F16, BF16
};

const IsaKernels& scalar_kernels();
// nullptr when the library was built without that path (not x86-64).
const IsaKernels* avx2_kernels();
const IsaKernels* avx512_kernels();

}  // namespace strata::backend::cpu
