// KV row types, argument checks, the portable loaders and writers, and dispatch by path.
#include "backend/cpu/kv_rows.h"

#include <algorithm>
#include <array>
#include <string>

#include "backend/cpu/kv_rows_isa.h"
#include "core/half.h"
#include "quant/blocks.h"
#include "quant/convert.h"

namespace strata::backend::cpu {
namespace {

constexpr std::array kKvTypes = {
    quant::Type::F32,  quant::Type::F16,  quant::Type::BF16, quant::Type::Q8_0,   quant::Type::Q5_1,
    quant::Type::Q5_0, quant::Type::Q4_1, quant::Type::Q4_0, quant::Type::IQ4_NL,
};

constexpr int64_t kMaxHeadDim = 1024;

std::string kv_type_names(int64_t head_dim) {
  std::string out;
  for (quant::Type type : kKvTypes) {
    if (head_dim > 0 && head_dim % quant::type_info(type).block_size != 0) continue;
    if (!out.empty()) out += ", ";
    out += quant::type_name(type);
  }
  return out;
}

// Portable loaders: the same single-rounding products as ggml's dequantizers.
void load_f32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
void load_f16(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(detail::load_u16(p + 2 * i));
}
void load_bf16(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(detail::load_u16(p + 2 * i));
}
void load_q8_0(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ8_0), dst += 32) {
    const float d = fp16_to_fp32(detail::load_u16(p));
    for (int j = 0; j < 32; ++j) dst[j] = static_cast<float>(static_cast<int8_t>(p[2 + j])) * d;
  }
}
void load_q4_0(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ4_0), dst += 32) {
    const float d = fp16_to_fp32(detail::load_u16(p));
    for (int j = 0; j < 16; ++j) {
      dst[j] = static_cast<float>((p[2 + j] & 0xF) - 8) * d;
      dst[j + 16] = static_cast<float>((p[2 + j] >> 4) - 8) * d;
    }
  }
}
void load_q4_1(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ4_1), dst += 32) {
    const float d = fp16_to_fp32(detail::load_u16(p));
    const float m = fp16_to_fp32(detail::load_u16(p + 2));
    for (int j = 0; j < 16; ++j) {
      dst[j] = detail::mul_add_unfused(static_cast<float>(p[4 + j] & 0xF), d, m);
      dst[j + 16] = detail::mul_add_unfused(static_cast<float>(p[4 + j] >> 4), d, m);
    }
  }
}
void load_q5_0(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ5_0), dst += 32) {
    const float d = fp16_to_fp32(detail::load_u16(p));
    const uint32_t qh = detail::load_u32(p + 2);
    for (int j = 0; j < 16; ++j) {
      const int lo = (p[6 + j] & 0xF) | static_cast<int>(((qh >> j) & 1) << 4);
      const int hi = (p[6 + j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
      dst[j] = static_cast<float>(lo - 16) * d;
      dst[j + 16] = static_cast<float>(hi - 16) * d;
    }
  }
}
void load_q5_1(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockQ5_1), dst += 32) {
    const float d = fp16_to_fp32(detail::load_u16(p));
    const float m = fp16_to_fp32(detail::load_u16(p + 2));
    const uint32_t qh = detail::load_u32(p + 4);
    for (int j = 0; j < 16; ++j) {
      const int lo = (p[8 + j] & 0xF) | static_cast<int>(((qh >> j) & 1) << 4);
      const int hi = (p[8 + j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
      dst[j] = detail::mul_add_unfused(static_cast<float>(lo), d, m);
      dst[j + 16] = detail::mul_add_unfused(static_cast<float>(hi), d, m);
    }
  }
}
void load_iq4_nl(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / 32; ++b, p += sizeof(quant::BlockIQ4_NL), dst += 32) {
    const float d = fp16_to_fp32(detail::load_u16(p));
    for (int j = 0; j < 16; ++j) {
      dst[j] = d * static_cast<float>(quant::kIQ4Values[p[2 + j] & 0xF]);
      dst[j + 16] = d * static_cast<float>(quant::kIQ4Values[p[2 + j] >> 4]);
    }
  }
}

template <void (*Row)(const void*, float*, int64_t)>
void tile(const uint8_t* src, size_t stride, int rows, int64_t n, float* dst) {
  for (int i = 0; i < rows; ++i) Row(src + static_cast<size_t>(i) * stride, dst + i * n, n);
}

// Portable writers are the reference quantizers themselves (arguments are checked by the
// callers, so the Status carries nothing here).
template <quant::Type kType>
void write_reference(const float* src, void* dst, int64_t n) {
  (void)quant::quantize_row(kType, src, dst, n);
}

KvRowLoader pick_loader(quant::Type type, Isa isa) {
  KvRowLoader fn = nullptr;
  if (isa == Isa::kAvx512) fn = detail::kv_loader_avx512(type);
  if (fn == nullptr && isa != Isa::kScalar) fn = detail::kv_loader_avx2(type);
  return fn != nullptr ? fn : detail::kv_loader_scalar(type);
}

KvRowWriter pick_writer(quant::Type type, Isa isa) {
  KvRowWriter fn = nullptr;
  if (isa == Isa::kAvx512) fn = detail::kv_writer_avx512(type);
  if (fn == nullptr && isa != Isa::kScalar) fn = detail::kv_writer_avx2(type);
  return fn != nullptr ? fn : detail::kv_writer_scalar(type);
}

Status check_rows(std::string_view what, quant::Type type, const void* bytes, const float* floats, int64_t n_rows,
                  int64_t row_elems, size_t stride) {
  if (!is_kv_type(type)) {
    return invalid_argument("{} KV rows of type {}: not a KV cache type; use one of: {}", what,
                            quant::type_name(type), kv_type_names(0));
  }
  const uint32_t block = quant::type_info(type).block_size;
  if (n_rows < 0 || row_elems < 0 || row_elems % block != 0) {
    return invalid_argument("{} {} KV rows: {} rows of {} elements; rows must hold a non-negative multiple of {}",
                            what, quant::type_name(type), n_rows, row_elems, block);
  }
  if (n_rows == 0 || row_elems == 0) return {};
  if (bytes == nullptr || floats == nullptr) {
    return invalid_argument("{} {} KV rows: null buffer for {} rows", what, quant::type_name(type), n_rows);
  }
  const uint64_t row_bytes = quant::row_bytes(type, static_cast<uint64_t>(row_elems)).value();
  if (n_rows > 1 && stride < row_bytes) {
    return invalid_argument("{} {} KV rows: row stride {} bytes is shorter than a row of {} elements ({} bytes)",
                            what, quant::type_name(type), stride, row_elems, row_bytes);
  }
  return {};
}

}  // namespace

namespace detail {

KvTileLoader kv_tile_loader_scalar(quant::Type type) {
  switch (type) {
    case quant::Type::F32: return tile<load_f32>;
    case quant::Type::F16: return tile<load_f16>;
    case quant::Type::BF16: return tile<load_bf16>;
    case quant::Type::Q8_0: return tile<load_q8_0>;
    case quant::Type::Q5_1: return tile<load_q5_1>;
    case quant::Type::Q5_0: return tile<load_q5_0>;
    case quant::Type::Q4_1: return tile<load_q4_1>;
    case quant::Type::Q4_0: return tile<load_q4_0>;
    case quant::Type::IQ4_NL: return tile<load_iq4_nl>;
    default: return nullptr;
  }
}

KvTileLoader kv_tile_loader(quant::Type type, Isa isa) {
  if (!is_kv_type(type)) return nullptr;
  if (isa != Isa::kScalar && !isa_supported(isa)) return nullptr;
  KvTileLoader fn = nullptr;
  if (isa == Isa::kAvx512) fn = kv_tile_loader_avx512(type);
  if (fn == nullptr && isa != Isa::kScalar) fn = kv_tile_loader_avx2(type);
  return fn != nullptr ? fn : kv_tile_loader_scalar(type);
}

KvRowLoader kv_loader_scalar(quant::Type type) {
  switch (type) {
    case quant::Type::F32: return load_f32;
    case quant::Type::F16: return load_f16;
    case quant::Type::BF16: return load_bf16;
    case quant::Type::Q8_0: return load_q8_0;
    case quant::Type::Q5_1: return load_q5_1;
    case quant::Type::Q5_0: return load_q5_0;
    case quant::Type::Q4_1: return load_q4_1;
    case quant::Type::Q4_0: return load_q4_0;
    case quant::Type::IQ4_NL: return load_iq4_nl;
    default: return nullptr;
  }
}

KvRowWriter kv_writer_scalar(quant::Type type) {
  switch (type) {
    case quant::Type::F32: return write_reference<quant::Type::F32>;
    case quant::Type::F16: return write_reference<quant::Type::F16>;
    case quant::Type::BF16: return write_reference<quant::Type::BF16>;
    case quant::Type::Q8_0: return write_reference<quant::Type::Q8_0>;
    case quant::Type::Q5_1: return write_reference<quant::Type::Q5_1>;
    case quant::Type::Q5_0: return write_reference<quant::Type::Q5_0>;
    case quant::Type::Q4_1: return write_reference<quant::Type::Q4_1>;
    case quant::Type::Q4_0: return write_reference<quant::Type::Q4_0>;
    case quant::Type::IQ4_NL: return write_reference<quant::Type::IQ4_NL>;
    default: return nullptr;
  }
}

}  // namespace detail

std::span<const quant::Type> kv_types() { return kKvTypes; }

bool is_kv_type(quant::Type type) { return std::find(kKvTypes.begin(), kKvTypes.end(), type) != kKvTypes.end(); }

Status check_kv_type(std::string_view which, quant::Type type, int64_t head_dim) {
  if (!is_kv_type(type)) {
    return invalid_argument("{} cache type {} is not a KV cache type; use one of: {}", which, quant::type_name(type),
                            kv_type_names(0));
  }
  if (head_dim <= 0 || head_dim % 16 != 0 || head_dim > kMaxHeadDim) {
    return invalid_argument("head dim {} is not supported by the CPU attention kernels: it must be a multiple of "
                            "16 from 16 to {} (e.g. 64, 80, 96, 112, 128, 256)",
                            head_dim, kMaxHeadDim);
  }
  const uint32_t block = quant::type_info(type).block_size;
  if (head_dim % block != 0) {
    return invalid_argument("{} cache type {} needs a head dim that is a multiple of {}, but it is {}; types that "
                            "work for head dim {}: {}",
                            which, quant::type_name(type), block, head_dim, head_dim, kv_type_names(head_dim));
  }
  return {};
}

KvRowLoader kv_row_loader(quant::Type type, Isa isa) {
  if (!is_kv_type(type)) return nullptr;
  if (isa != Isa::kScalar && !isa_supported(isa)) return nullptr;
  return pick_loader(type, isa);
}

KvRowWriter kv_row_writer(quant::Type type, Isa isa) {
  if (!is_kv_type(type)) return nullptr;
  if (isa != Isa::kScalar && !isa_supported(isa)) return nullptr;
  return pick_writer(type, isa);
}

Status write_kv_rows(quant::Type type, const float* src, int64_t n_rows, int64_t row_elems, void* dst,
                     size_t dst_stride, int64_t src_stride) {
  STRATA_TRY(check_rows("writing", type, dst, src, n_rows, row_elems, dst_stride));
  if (src_stride == 0) src_stride = row_elems;
  if (n_rows > 1 && src_stride < row_elems) {
    return invalid_argument("writing {} KV rows: source stride {} floats is shorter than a row of {}",
                            quant::type_name(type), src_stride, row_elems);
  }
  if (n_rows == 0 || row_elems == 0) return {};
  const KvRowWriter write = pick_writer(type, active_isa());
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t r = 0; r < n_rows; ++r) {
    write(src + r * src_stride, out + static_cast<size_t>(r) * dst_stride, row_elems);
  }
  return {};
}

Status read_kv_rows(quant::Type type, const void* src, size_t src_stride, int64_t n_rows, int64_t row_elems,
                    float* dst) {
  STRATA_TRY(check_rows("reading", type, src, dst, n_rows, row_elems, src_stride));
  if (n_rows == 0 || row_elems == 0) return {};
  const KvRowLoader load = pick_loader(type, active_isa());
  const auto* in = static_cast<const uint8_t*>(src);
  for (int64_t r = 0; r < n_rows; ++r) load(in + static_cast<size_t>(r) * src_stride, dst + r * row_elems, row_elems);
  return {};
}

}  // namespace strata::backend::cpu
