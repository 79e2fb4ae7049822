// The per-path tables behind kv_row_loader / kv_row_writer (internal to backend/cpu).
#pragma once

#include <cstdint>
#include <cstring>

#include "backend/cpu/kv_rows.h"
#include "quant/type.h"

namespace strata::backend::cpu::detail {

// Loads n elements from each of `rows` rows (row i at src + i * stride) into dst + i * n:
// one call per attention tile instead of one per row.
using KvTileLoader = void (*)(const uint8_t* src, size_t stride, int rows, int64_t n, float* dst);

// The tile loader of a KV type on a path (falling back like kv_row_loader); nullptr for
// other types or a path this build or CPU lacks.
KvTileLoader kv_tile_loader(quant::Type type, Isa isa);

KvTileLoader kv_tile_loader_scalar(quant::Type type);
KvTileLoader kv_tile_loader_avx2(quant::Type type);
KvTileLoader kv_tile_loader_avx512(quant::Type type);

KvRowLoader kv_loader_scalar(quant::Type type);
KvRowWriter kv_writer_scalar(quant::Type type);
// nullptr when the build has no such path (not x86-64) or the type has no SIMD version.
KvRowLoader kv_loader_avx2(quant::Type type);
KvRowWriter kv_writer_avx2(quant::Type type);
KvRowLoader kv_loader_avx512(quant::Type type);
KvRowWriter kv_writer_avx512(quant::Type type);

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof v); }

// a * b + c with two roundings even where the compiler may fuse: ggml's dequantizers round
// the product first, and bit-exact loaders must too.
inline float mul_add_unfused(float a, float b, float c) {
#if defined(__x86_64__)
  float p = a * b;
  asm("" : "+x"(p));
  return p + c;
#else
  volatile float p = a * b;
  return p + c;
#endif
}

}  // namespace strata::backend::cpu::detail
