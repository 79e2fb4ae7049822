// GGUF v2/v3 reader: validates the whole header and tensor table before anything is used.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "gguf/value.h"
#include "quant/type.h"

namespace strata::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr size_t kMaxDims = 4;

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // dims, ne[0] varies fastest (a row)
  quant::Type type;
  uint64_t offset = 0;       // from the start of the data section
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
  std::span<const uint8_t> data;  // into the mapped file
};

class File {
 public:
  // Maps and validates. Errors name the file, the field, the value seen and the limit.
  // Copies share the mapping and the parsed tables.
  static Result<File> open(const std::filesystem::path& path);
  // Validates bytes that the caller keeps alive (fuzzing, in-memory files).
  static Result<File> parse(std::span<const uint8_t> bytes);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the tensor data section
  uint64_t file_size() const { return bytes_.size(); }
  std::span<const uint8_t> bytes() const { return bytes_; }
  const std::filesystem::path& path() const { return path_; }

  // In file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return contents_->metadata; }
  const Value* find(std::string_view key) const;
  const std::vector<TensorInfo>& tensors() const { return contents_->tensors; }
  const TensorInfo* find_tensor(std::string_view name) const;

  // Typed lookups whose errors say which key is missing or has the wrong type.
  Result<uint64_t> get_uint(std::string_view key) const;
  Result<double> get_number(std::string_view key) const;
  Result<std::string> get_string(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  // An array whose elements have `element_type` (e.g. tokenizer.ggml.tokens: string).
  Result<const Value*> get_array(std::string_view key, ValueType element_type) const;
  // "general.architecture", or "" when absent.
  std::string architecture() const;

 private:
  std::shared_ptr<MappedFile> mapping_;  // null for parse()
  std::span<const uint8_t> bytes_;
  std::filesystem::path path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  uint64_t data_offset_ = 0;
  // Shared and immutable after parsing, so copies of a File (a model, its tokenizer, ...)
  // cost two reference counts, not a copy of a 100k-entry vocabulary.
  struct Contents {
    std::vector<std::pair<std::string, Value>> metadata;
    std::vector<TensorInfo> tensors;
    std::vector<size_t> key_order;     // metadata indices sorted by key
    std::vector<size_t> tensor_order;  // tensor indices sorted by name
  };
  std::shared_ptr<const Contents> contents_ = std::make_shared<const Contents>();

  friend class Parser;
};

}  // namespace strata::gguf
