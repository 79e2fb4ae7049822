// File: opening a mapped GGUF file and looking up its metadata and tensors.
#include "gguf/file.h"

#include <fmt/format.h>

#include <algorithm>

#include "gguf/parser.h"

namespace strata::gguf {
namespace {

std::string describe_type(const Value& v) {
  if (!v.is_array()) return std::string(value_type_name(v.type()));
  return fmt::format("array of {}", value_type_name(v.array_type()));
}

Status missing(std::string_view key) { return not_found("metadata key '{}' is missing", key); }

Status wrong_type(std::string_view key, const Value& v, std::string_view expected) {
  return corrupt("metadata key '{}' has type {}, expected {}", key, describe_type(v), expected);
}

}  // namespace

Result<File> File::open(const std::filesystem::path& path) {
  auto mapped = MappedFile::open(path);
  if (!mapped.ok()) return std::move(mapped).status();
  auto mapping = std::make_shared<MappedFile>(std::move(*mapped));
  auto file = Parser::parse(mapping->bytes());
  if (!file.ok()) return std::move(file).status().with_context(fmt::format("'{}'", path.string()));
  file->mapping_ = std::move(mapping);
  file->path_ = path;
  return file;
}

Result<File> File::parse(std::span<const uint8_t> bytes) { return Parser::parse(bytes); }

const Value* File::find(std::string_view key) const {
  const auto& order = contents_->key_order;
  const auto& metadata = contents_->metadata;
  auto it = std::lower_bound(order.begin(), order.end(), key, [&](size_t i, std::string_view k) {
    return std::string_view(metadata[i].first) < k;
  });
  if (it == order.end() || metadata[*it].first != key) return nullptr;
  return &metadata[*it].second;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  const auto& order = contents_->tensor_order;
  const auto& tensors = contents_->tensors;
  auto it = std::lower_bound(order.begin(), order.end(), name, [&](size_t i, std::string_view n) {
    return std::string_view(tensors[i].name) < n;
  });
  if (it == order.end() || tensors[*it].name != name) return nullptr;
  return &tensors[*it];
}

Result<uint64_t> File::get_uint(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return missing(key);
  if (auto u = v->as_uint()) return *u;
  if (auto i = v->as_int()) {
    return corrupt("metadata key '{}' is {}, expected a non-negative integer", key, *i);
  }
  return wrong_type(key, *v, "an integer");
}

Result<double> File::get_number(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return missing(key);
  if (auto d = v->as_number()) return *d;
  return wrong_type(key, *v, "a number");
}

Result<std::string> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return missing(key);
  if (const std::string* s = v->as_string()) return *s;
  return wrong_type(key, *v, "a string");
}

Result<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return missing(key);
  if (auto b = v->as_bool()) return *b;
  return wrong_type(key, *v, "a bool");
}

Result<const Value*> File::get_array(std::string_view key, ValueType element_type) const {
  const Value* v = find(key);
  if (v == nullptr) return missing(key);
  if (!v->is_array() || v->array_type() != element_type) {
    return wrong_type(key, *v, fmt::format("an array of {}", value_type_name(element_type)));
  }
  return v;
}

std::string File::architecture() const {
  const Value* v = find("general.architecture");
  const std::string* s = v != nullptr ? v->as_string() : nullptr;
  return s != nullptr ? *s : std::string();
}

}  // namespace strata::gguf
