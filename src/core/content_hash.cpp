// XXH3-128 through libxxhash.
#include "core/content_hash.h"

#include <xxhash.h>

#include <fmt/format.h>

namespace strata {

std::string Hash128::hex() const { return fmt::format("{:016x}{:016x}", high, low); }

Hash128 hash_bytes(std::span<const uint8_t> bytes) {
  const XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return {h.high64, h.low64};
}

struct ContentHasher::State {
  XXH3_state_t* xxh = XXH3_createState();
  ~State() { XXH3_freeState(xxh); }
};

ContentHasher::ContentHasher() : state_(std::make_unique<State>()) { XXH3_128bits_reset(state_->xxh); }
ContentHasher::~ContentHasher() = default;

void ContentHasher::update(std::span<const uint8_t> bytes) {
  XXH3_128bits_update(state_->xxh, bytes.data(), bytes.size());
}

void ContentHasher::update(std::string_view text) {
  XXH3_128bits_update(state_->xxh, text.data(), text.size());
}

void ContentHasher::update_u64(uint64_t value) {
  uint8_t le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<uint8_t>(value >> (8 * i));
  XXH3_128bits_update(state_->xxh, le, sizeof le);
}

Hash128 ContentHasher::finish() const {
  const XXH128_hash_t h = XXH3_128bits_digest(state_->xxh);
  return {h.high64, h.low64};
}

}  // namespace strata
