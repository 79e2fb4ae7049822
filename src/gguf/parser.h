// Validating GGUF parser behind File::parse (internal to gguf/).
#pragma once

#include <cstdint>
#include <span>

#include "core/status.h"
#include "gguf/file.h"

namespace strata::gguf {

// Minimum bytes of one metadata entry: key length, a 1-byte key, value type, a 1-byte value.
inline constexpr uint64_t kMinMetadataEntryBytes = 8 + 1 + 4 + 1;
// Minimum bytes of one tensor info: name length, a 1-byte name, n_dims, one dim, type, offset.
inline constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;
// magic, version, tensor count, metadata count.
inline constexpr uint64_t kHeaderBytes = 4 + 4 + 8 + 8;
// Largest general.alignment accepted: the spec stores it as u32.
inline constexpr uint64_t kMaxAlignment = uint64_t{1} << 31;

class Parser {
 public:
  static Result<File> parse(std::span<const uint8_t> bytes);
};

}  // namespace strata::gguf
