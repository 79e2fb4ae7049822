// Token text -> id lookup over a vocabulary's token strings.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/vocab.h"

namespace strata::tokenizer {

// A flat open-addressing table: tokenizing looks up every candidate merge, so this is on the
// hot path (a node-based map spends most of its time on cache misses there).
class TokenIndex {
 public:
  // Keeps views into `tokens`, which must outlive the index and not change. Duplicate
  // non-empty texts are an error (two ids could never both be produced). Empty texts are
  // not indexed: no input can spell them.
  static Result<TokenIndex> build(const std::vector<std::string>& tokens);

  TokenId find(std::string_view text) const {
    const uint64_t h = hash(text);
    const auto tag = static_cast<uint32_t>(h >> 32);
    for (uint64_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id == kNoToken) return kNoToken;
      if (slot.tag == tag && texts_[static_cast<size_t>(slot.id)] == text) return slot.id;
    }
  }

  static uint64_t hash(std::string_view text) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ text.size();
    const char* p = text.data();
    size_t n = text.size();
    while (n >= 8) {
      uint64_t word;
      std::memcpy(&word, p, 8);
      h = (h ^ word) * 0xFF51AFD7ED558CCDull;
      h ^= h >> 32;
      p += 8;
      n -= 8;
    }
    if (n > 0) {
      uint64_t word = 0;
      std::memcpy(&word, p, n);
      h = (h ^ word) * 0xC4CEB9FE1A85EC53ull;
    }
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    return h;
  }

 private:
  struct Slot {
    uint32_t tag;  // high half of the hash: most mismatches end here without a string compare
    TokenId id;    // kNoToken: empty
  };
  std::vector<std::string_view> texts_;
  std::vector<Slot> slots_;
  uint64_t mask_ = 0;
};

}  // namespace strata::tokenizer
