// KV cache rows on the CPU: which element types a cache may use, and the per-type row
// writers (f32 -> cache) and loaders (cache -> f32) that attention and the cache share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "backend/cpu/cpu_isa.h"
#include "core/status.h"
#include "quant/type.h"

namespace strata::backend::cpu {

// f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl (llama.cpp's order).
std::span<const quant::Type> kv_types();
bool is_kv_type(quant::Type type);

// OK when `type` can hold K (which = "K") or V rows of this head dim: a KV type, head_dim a
// multiple of 16 (the kernels' vector width) up to 1024, and of the type's block size. The
// error names the type and head dim and lists the types that would work.
Status check_kv_type(std::string_view which, quant::Type type, int64_t head_dim);

// Quantizes n_rows rows of row_elems floats (src row r at src + r * src_stride, src_stride 0
// meaning row_elems) into dst + r * dst_stride. The bytes equal quant::quantize_row's (ggml's
// reference quantizers; for iq4_nl the scale search that ggml's KV writes also run) for
// finite inputs. row_elems must be a multiple of the type's block size.
Status write_kv_rows(quant::Type type, const float* src, int64_t n_rows, int64_t row_elems, void* dst,
                     size_t dst_stride, int64_t src_stride = 0);

// The inverse: dequantizes rows to floats, dst row r at dst + r * row_elems.
Status read_kv_rows(quant::Type type, const void* src, size_t src_stride, int64_t n_rows, int64_t row_elems,
                    float* dst);

// Converts n elements (a multiple of the type's block size) of one row; src needs no
// alignment. Equal bit for bit to quant::dequantize_row for every input except signalling
// NaN payloads (the hardware f16 conversion quiets them).
using KvRowLoader = void (*)(const void* src, float* dst, int64_t n);
using KvRowWriter = void (*)(const float* src, void* dst, int64_t n);

// The loader / writer of a KV type on an instruction-set path; nullptr for other types or
// a path this build lacks. Chosen once per call, so adding a type adds one entry here.
KvRowLoader kv_row_loader(quant::Type type, Isa isa);
KvRowWriter kv_row_writer(quant::Type type, Isa isa);

}  // namespace strata::backend::cpu
