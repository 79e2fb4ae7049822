// Stage identity: which tensors and metadata belong to a stage, and their hash.
#include "dist/stage_identity.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string_view>

#include "model/hparams.h"

namespace strata::dist {
namespace {

// True for "blk.<i>." with begin <= i < end.
bool in_range(std::string_view name, model::LayerRange range) {
  constexpr std::string_view kPrefix = "blk.";
  if (name.substr(0, kPrefix.size()) != kPrefix) return false;
  name.remove_prefix(kPrefix.size());
  uint64_t layer = 0;
  size_t digits = 0;
  while (digits < name.size() && digits < 10 && name[digits] >= '0' && name[digits] <= '9') {
    layer = layer * 10 + static_cast<uint64_t>(name[digits] - '0');
    ++digits;
  }
  if (digits == 0 || digits >= name.size() || name[digits] != '.') return false;
  return layer >= range.begin && layer < range.end;
}

Status hash_value(ContentHasher& h, const std::string& key, const gguf::Value& value) {
  h.update(key);
  h.update_u64(static_cast<uint64_t>(value.type()));
  if (value.is_array()) {
    h.update_u64(static_cast<uint64_t>(value.array_type()));
    h.update_u64(value.array_size());
    if (const auto* bytes = value.numeric_bytes(); bytes != nullptr) {
      h.update(std::span<const uint8_t>(*bytes));
    } else if (const auto* strings = value.strings(); strings != nullptr) {
      for (const std::string& s : *strings) {
        h.update_u64(s.size());
        h.update(s);
      }
    } else {
      return unsupported("metadata key {} is an array of arrays; a stage's metadata cannot hold one", key);
    }
    return {};
  }
  if (const std::string* s = value.as_string(); s != nullptr) {
    h.update_u64(s->size());
    h.update(*s);
  } else if (const auto b = value.as_bool(); b.has_value() && value.type() == gguf::ValueType::kBool) {
    h.update_u64(*b ? 1 : 0);
  } else if (value.type() == gguf::ValueType::kFloat32 || value.type() == gguf::ValueType::kFloat64) {
    h.update_u64(std::bit_cast<uint64_t>(value.as_number().value_or(0.0)));
  } else if (const auto u = value.as_uint(); u.has_value()) {
    h.update_u64(*u);
  } else {
    h.update_u64(static_cast<uint64_t>(value.as_int().value_or(0)));
  }
  return {};
}

Status hash_shape(ContentHasher& h, const gguf::File& file, model::LayerRange range,
                  const std::vector<const gguf::TensorInfo*>& tensors) {
  h.update("strata-stage-v1");
  h.update_u64(range.begin);
  h.update_u64(range.end);
  for (const auto* entry : stage_metadata(file)) STRATA_TRY(hash_value(h, entry->first, entry->second));
  for (const gguf::TensorInfo* t : tensors) {
    h.update_u64(t->name.size());
    h.update(t->name);
    h.update_u64(static_cast<uint64_t>(t->type));
    h.update_u64(t->ne.size());
    for (uint64_t d : t->ne) h.update_u64(d);
  }
  return {};
}

}  // namespace

Result<std::vector<const gguf::TensorInfo*>> stage_tensors(const gguf::File& file, model::LayerRange range) {
  const std::string arch = file.architecture();
  STRATA_ASSIGN_OR_RETURN(const uint64_t n_layer, file.get_uint(arch + ".block_count"));
  if (range.begin >= range.end || range.end > n_layer) {
    return invalid_argument("layer range [{}, {}) is not within the model's {} layers", range.begin, range.end,
                            n_layer);
  }
  std::vector<const gguf::TensorInfo*> out;
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (in_range(t.name, range) || t.name == "rope_freqs.weight") out.push_back(&t);
  }
  std::sort(out.begin(), out.end(), [](const auto* a, const auto* b) { return a->name < b->name; });
  if (out.empty()) return not_found("the file has no tensors of layers {} to {}", range.begin, range.end - 1);
  return out;
}

std::vector<const std::pair<std::string, gguf::Value>*> stage_metadata(const gguf::File& file) {
  const std::string arch = file.architecture();
  const std::string prefix = arch + ".";
  const std::string vocab_key = prefix + "vocab_size";
  std::vector<const std::pair<std::string, gguf::Value>*> out;
  for (const auto& entry : file.metadata()) {
    const bool wanted = entry.first == "general.architecture" ||
                        (!arch.empty() && entry.first.compare(0, prefix.size(), prefix) == 0 && entry.first != vocab_key);
    if (wanted) out.push_back(&entry);
  }
  std::sort(out.begin(), out.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  return out;
}

Result<Hash128> stage_shape_hash(const gguf::File& file, model::LayerRange range) {
  STRATA_ASSIGN_OR_RETURN(auto tensors, stage_tensors(file, range));
  ContentHasher h;
  STRATA_TRY(hash_shape(h, file, range, tensors));
  return h.finish();
}

Result<StageIdentity> stage_identity(const gguf::File& file, model::LayerRange range) {
  STRATA_ASSIGN_OR_RETURN(auto tensors, stage_tensors(file, range));
  StageIdentity id;
  ContentHasher h;
  STRATA_TRY(hash_shape(h, file, range, tensors));
  id.shape = h.finish();
  for (const gguf::TensorInfo* t : tensors) {
    h.update(t->data);
    id.tensor_bytes += t->data.size();
  }
  id.content = h.finish();
  return id;
}

Result<Hash128> parse_hash(std::string_view hex) {
  if (hex.size() != 32) {
    return invalid_argument("a stage hash has 32 hex digits; got {} characters", hex.size());
  }
  Hash128 out;
  for (size_t i = 0; i < 32; ++i) {
    const char c = hex[i];
    uint64_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return invalid_argument("a stage hash has only the digits 0-9 and a-f; got '{}'", hex.substr(0, 32));
    }
    uint64_t& half = i < 16 ? out.high : out.low;
    half = (half << 4) | digit;
  }
  return out;
}

}  // namespace strata::dist
