// KV cache element types: the llama.cpp -ctk/-ctv spellings and which head dims each supports.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "quant/type.h"

namespace strata::kv {

// f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0, iq4_nl (llama.cpp's order and spelling).
std::span<const quant::Type> cache_types();

// "f32, f16, ..." for messages and --help.
std::string cache_type_names();

// Case-insensitive; the error lists the valid names.
Result<quant::Type> parse_cache_type(std::string_view name);

bool is_cache_type(quant::Type type);

// A row of the cache holds whole heads, so a block format needs head_dim to be a multiple
// of its block size.
bool cache_type_fits_head_dim(quant::Type type, uint32_t head_dim);

// Cache types usable for this head dim, in cache_types() order.
std::vector<quant::Type> cache_types_for_head_dim(uint32_t head_dim);

// `which` is "K" or "V"; the error names the type, the head dim and the types that work.
Status check_cache_type(std::string_view which, quant::Type type, uint32_t head_dim);

}  // namespace strata::kv
