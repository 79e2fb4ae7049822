// TokenIndex construction with duplicate detection.
#include "tokenizer/token_index.h"

namespace strata::tokenizer {

Result<TokenIndex> TokenIndex::build(const std::vector<std::string>& tokens) {
  TokenIndex index;
  index.texts_.assign(tokens.begin(), tokens.end());
  uint64_t capacity = 16;
  while (capacity < tokens.size() * 2) capacity *= 2;  // load factor <= 1/2
  index.slots_.assign(capacity, Slot{0, kNoToken});
  index.mask_ = capacity - 1;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string_view text = tokens[i];
    if (text.empty()) continue;
    const uint64_t h = hash(text);
    const auto tag = static_cast<uint32_t>(h >> 32);
    for (uint64_t s = h & index.mask_;; s = (s + 1) & index.mask_) {
      Slot& slot = index.slots_[s];
      if (slot.id == kNoToken) {
        slot = {tag, static_cast<TokenId>(i)};
        break;
      }
      if (slot.tag == tag && index.texts_[static_cast<size_t>(slot.id)] == text) {
        return corrupt("tokenizer.ggml.tokens has '{}' twice, at ids {} and {}; token texts must be unique", text,
                       slot.id, i);
      }
    }
  }
  return index;
}

}  // namespace strata::tokenizer
