// KV cache element types and their head-dim constraints.
#include "kv/cache_type.h"

#include <algorithm>
#include <array>

namespace strata::kv {
namespace {

constexpr std::array kCacheTypes = {
    quant::Type::F32,  quant::Type::F16,  quant::Type::BF16, quant::Type::Q8_0,   quant::Type::Q5_1,
    quant::Type::Q5_0, quant::Type::Q4_1, quant::Type::Q4_0, quant::Type::IQ4_NL,
};

std::string join_names(std::span<const quant::Type> types) {
  std::string out;
  for (quant::Type type : types) {
    if (!out.empty()) out += ", ";
    out += quant::type_name(type);
  }
  return out;
}

}  // namespace

std::span<const quant::Type> cache_types() { return kCacheTypes; }

std::string cache_type_names() { return join_names(kCacheTypes); }

bool is_cache_type(quant::Type type) {
  return std::find(kCacheTypes.begin(), kCacheTypes.end(), type) != kCacheTypes.end();
}

Result<quant::Type> parse_cache_type(std::string_view name) {
  const std::optional<quant::Type> type = quant::type_from_name(name);
  if (!type.has_value() || !is_cache_type(*type)) {
    return invalid_argument("'{}' is not a KV cache type; use one of: {}", name, cache_type_names());
  }
  return *type;
}

bool cache_type_fits_head_dim(quant::Type type, uint32_t head_dim) {
  if (!is_cache_type(type) || head_dim == 0) return false;
  return head_dim % quant::type_info(type).block_size == 0;
}

std::vector<quant::Type> cache_types_for_head_dim(uint32_t head_dim) {
  std::vector<quant::Type> out;
  for (quant::Type type : kCacheTypes) {
    if (cache_type_fits_head_dim(type, head_dim)) out.push_back(type);
  }
  return out;
}

Status check_cache_type(std::string_view which, quant::Type type, uint32_t head_dim) {
  if (!is_cache_type(type)) {
    return invalid_argument("{} cache type {} is not a KV cache type; use one of: {}", which,
                            quant::type_name(type), cache_type_names());
  }
  if (cache_type_fits_head_dim(type, head_dim)) return {};
  const std::vector<quant::Type> usable = cache_types_for_head_dim(head_dim);
  if (usable.empty()) {
    return invalid_argument("{} head dim {} cannot hold a KV cache row of any type", which, head_dim);
  }
  return invalid_argument(
      "{} cache type {} needs a {} head dim that is a multiple of {}, but this model's is {}; "
      "types that work for head dim {}: {}",
      which, quant::type_name(type), which, quant::type_info(type).block_size, head_dim, head_dim,
      join_names(usable));
}

}  // namespace strata::kv
