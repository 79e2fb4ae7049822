// XXH3-128 content hash: model identity for weights (a stage's tensors and their metadata).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace strata {

struct Hash128 {
  uint64_t high = 0;
  uint64_t low = 0;
  std::string hex() const;  // 32 lowercase hex digits, high then low
  bool operator==(const Hash128&) const = default;
};

Hash128 hash_bytes(std::span<const uint8_t> bytes);

// Streaming form: the same bytes in any chunking give the same hash as hash_bytes.
class ContentHasher {
 public:
  ContentHasher();
  ~ContentHasher();
  ContentHasher(const ContentHasher&) = delete;
  ContentHasher& operator=(const ContentHasher&) = delete;

  void update(std::span<const uint8_t> bytes);
  void update(std::string_view text);
  void update_u64(uint64_t value);  // little-endian, so hashes agree across hosts
  Hash128 finish() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace strata
