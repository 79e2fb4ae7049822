// dequantize_row / quantize_row: argument checks, then dispatch to the per-format kernels.
#include "quant/convert.h"

#include <cstring>

#include "core/half.h"
#include "quant/format_kernels.h"
#include "quant/half_row.h"

namespace strata::quant {
namespace {

using DequantFn = void (*)(const void* src, float* dst, int64_t n_blocks);
using QuantFn = void (*)(const float* src, void* dst, int64_t n_blocks);

struct Kernels {
  DequantFn dequantize = nullptr;
  QuantFn quantize = nullptr;
};

template <typename Block, void (*Fn)(const Block*, float*, int64_t)>
void dequant_blocks(const void* src, float* dst, int64_t nb) {
  Fn(static_cast<const Block*>(src), dst, nb);
}
template <typename Block, void (*Fn)(const float*, Block*, int64_t)>
void quant_blocks(const float* src, void* dst, int64_t nb) {
  Fn(src, static_cast<Block*>(dst), nb);
}

void dequant_f32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void quant_f32(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void dequant_f16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = detail::half_to_float_fast(h[i]);
}
void quant_f16(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = detail::float_to_half_fast(src[i]);
}
void dequant_bf16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
}
void quant_bf16(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_bf16(src[i]);
}

Kernels kernels_for(Type type) {
  using namespace detail;
  switch (type) {
    case Type::F32: return {dequant_f32, quant_f32};
    case Type::F16: return {dequant_f16, quant_f16};
    case Type::BF16: return {dequant_bf16, quant_bf16};
    case Type::Q4_0: return {dequant_blocks<BlockQ4_0, dequantize_q4_0>, quant_blocks<BlockQ4_0, quantize_q4_0>};
    case Type::Q4_1: return {dequant_blocks<BlockQ4_1, dequantize_q4_1>, quant_blocks<BlockQ4_1, quantize_q4_1>};
    case Type::Q5_0: return {dequant_blocks<BlockQ5_0, dequantize_q5_0>, quant_blocks<BlockQ5_0, quantize_q5_0>};
    case Type::Q5_1: return {dequant_blocks<BlockQ5_1, dequantize_q5_1>, quant_blocks<BlockQ5_1, quantize_q5_1>};
    case Type::Q8_0: return {dequant_blocks<BlockQ8_0, dequantize_q8_0>, quant_blocks<BlockQ8_0, quantize_q8_0>};
    case Type::Q2_K: return {dequant_blocks<BlockQ2_K, dequantize_q2_k>, quant_blocks<BlockQ2_K, quantize_q2_k>};
    case Type::Q3_K: return {dequant_blocks<BlockQ3_K, dequantize_q3_k>, quant_blocks<BlockQ3_K, quantize_q3_k>};
    case Type::Q4_K: return {dequant_blocks<BlockQ4_K, dequantize_q4_k>, quant_blocks<BlockQ4_K, quantize_q4_k>};
    case Type::Q5_K: return {dequant_blocks<BlockQ5_K, dequantize_q5_k>, quant_blocks<BlockQ5_K, quantize_q5_k>};
    case Type::Q6_K: return {dequant_blocks<BlockQ6_K, dequantize_q6_k>, quant_blocks<BlockQ6_K, quantize_q6_k>};
    case Type::IQ4_NL:
      return {dequant_blocks<BlockIQ4_NL, dequantize_iq4_nl>, quant_blocks<BlockIQ4_NL, quantize_iq4_nl>};
    case Type::IQ4_XS:
      return {dequant_blocks<BlockIQ4_XS, dequantize_iq4_xs>, quant_blocks<BlockIQ4_XS, quantize_iq4_xs>};
    default: return {};
  }
}

// Block structs hold uint16_t fields; a block row at an odd address (a GGUF file with
// alignment 1, a caller's byte buffer) goes through an aligned bounce buffer instead.
constexpr uintptr_t kBlockAlign = alignof(uint16_t);
constexpr size_t kBounceBytes = 4096;

Status check_args(Type type, const void* bytes, const void* floats, int64_t n, bool quantize) {
  const TypeInfo& info = type_info(type);
  const bool supported = quantize ? info.can_quantize : info.can_dequantize;
  if (!supported) {
    return unsupported("{} of tensor type {} (id {}) is not implemented; supported: f32, f16, bf16, q4_0, q4_1, "
                       "q5_0, q5_1, q8_0, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs",
                       quantize ? "quantizing" : "dequantizing", info.name, static_cast<uint32_t>(type));
  }
  if (n < 0 || n % info.block_size != 0) {
    return invalid_argument("row of {} elements cannot be {} as {}: the count must be a non-negative multiple of "
                            "the block size {}",
                            n, quantize ? "quantized" : "dequantized", info.name, info.block_size);
  }
  if (n > 0 && (bytes == nullptr || floats == nullptr)) {
    return invalid_argument("null buffer passed for a row of {} {} elements", n, info.name);
  }
  return {};
}

}  // namespace

Status dequantize_row(Type type, const void* src, float* dst, int64_t n) {
  STRATA_TRY(check_args(type, src, dst, n, false));
  const TypeInfo& info = type_info(type);
  const Kernels k = kernels_for(type);
  const int64_t nb = n / info.block_size;
  if (nb == 0) return {};
  if (reinterpret_cast<uintptr_t>(src) % kBlockAlign == 0) {
    k.dequantize(src, dst, nb);
    return {};
  }
  alignas(16) unsigned char bounce[kBounceBytes];
  const int64_t chunk = static_cast<int64_t>(kBounceBytes / info.block_bytes);
  const auto* in = static_cast<const unsigned char*>(src);
  for (int64_t b = 0; b < nb; b += chunk) {
    const int64_t count = nb - b < chunk ? nb - b : chunk;
    std::memcpy(bounce, in + b * info.block_bytes, static_cast<size_t>(count) * info.block_bytes);
    k.dequantize(bounce, dst + b * info.block_size, count);
  }
  return {};
}

Status quantize_row(Type type, const float* src, void* dst, int64_t n) {
  STRATA_TRY(check_args(type, dst, src, n, true));
  const TypeInfo& info = type_info(type);
  const Kernels k = kernels_for(type);
  const int64_t nb = n / info.block_size;
  if (nb == 0) return {};
  if (reinterpret_cast<uintptr_t>(dst) % kBlockAlign == 0) {
    k.quantize(src, dst, nb);
    return {};
  }
  alignas(16) unsigned char bounce[kBounceBytes];
  const int64_t chunk = static_cast<int64_t>(kBounceBytes / info.block_bytes);
  auto* out = static_cast<unsigned char*>(dst);
  for (int64_t b = 0; b < nb; b += chunk) {
    const int64_t count = nb - b < chunk ? nb - b : chunk;
    k.quantize(src + b * info.block_size, bounce, count);
    std::memcpy(out + b * info.block_bytes, bounce, static_cast<size_t>(count) * info.block_bytes);
  }
  return {};
}

}  // namespace strata::quant
