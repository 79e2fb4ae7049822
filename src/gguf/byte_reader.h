// A bounds-checked little-endian cursor over untrusted bytes (internal to gguf/).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/status.h"

namespace strata::gguf {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader copies little-endian fields directly");

// Counts are checked against the bytes left, but elements cost more in memory than in the
// file, and nested arrays could each reserve for the whole rest of the file. So reserve at
// most this many up front and let vectors grow with what was actually read.
inline size_t reserve_hint(uint64_t count) {
  constexpr uint64_t kMaxUpfront = uint64_t{1} << 16;
  return static_cast<size_t>(count < kMaxUpfront ? count : kMaxUpfront);
}

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  uint64_t position() const { return pos_; }
  uint64_t size() const { return bytes_.size(); }
  uint64_t remaining() const { return bytes_.size() - pos_; }
  const uint8_t* current() const { return bytes_.data() + pos_; }

  // `what` names the field for the error message; it is only formatted on failure.
  template <typename T>
  Result<T> read(std::string_view what) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (remaining() < sizeof(T)) return truncated(what, sizeof(T));
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  // Advances over n bytes and returns where they start.
  Result<const uint8_t*> take(uint64_t n, std::string_view what) {
    if (remaining() < n) return truncated(what, n);
    const uint8_t* start = bytes_.data() + pos_;
    pos_ += n;
    return start;
  }

  // A GGUF string: u64 length then that many bytes (no terminator).
  Result<std::string_view> read_string(std::string_view what) {
    const uint64_t at = pos_;
    auto length = read<uint64_t>(what);
    if (!length.ok()) return std::move(length).status();
    if (*length > remaining()) {
      return corrupt("{} at byte {} has length {}, but only {} bytes are left in the file", what,
                     at, *length, remaining());
    }
    std::string_view text(reinterpret_cast<const char*>(bytes_.data() + pos_), *length);
    pos_ += *length;
    return text;
  }

 private:
  Status truncated(std::string_view what, uint64_t needed) const {
    return corrupt("file ends inside {} at byte {}: needs {} bytes, {} left", what, pos_, needed,
                   remaining());
  }

  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
};

}  // namespace strata::gguf
