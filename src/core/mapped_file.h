// A read-only memory map of a whole file; model weights are used in place from it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>

#include "core/status.h"

namespace strata {

class MappedFile {
 public:
  // Fails with a clear message for a missing file, a directory or an unreadable file.
  // An empty file maps to an empty span (no mmap call is made).
  static Result<MappedFile> open(const std::filesystem::path& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void release();

  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  std::filesystem::path path_;
};

}  // namespace strata
