// The byte <-> code point tables of byte-level BPE, built once.
#include "tokenizer/byte_encoding.h"

#include "core/utf8.h"

namespace strata::tokenizer {
namespace {

// Printable Latin-1 bytes keep their own code point; the other 68 (controls, space, DEL,
// NBSP, soft hyphen) are numbered from U+0100 upwards in byte order.
bool keeps_own_code_point(unsigned b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

constexpr uint32_t kMaxMapped = 0x100 + 68;

struct Tables {
  std::array<uint32_t, 256> code_point{};
  std::array<std::string, 256> utf8;
  std::array<int16_t, kMaxMapped> byte_of{};  // -1: not a mapped code point

  Tables() {
    byte_of.fill(-1);
    uint32_t next = 0x100;
    for (unsigned b = 0; b < 256; ++b) {
      const uint32_t cp = keeps_own_code_point(b) ? b : next++;
      code_point[b] = cp;
      utf8_append(utf8[b], cp);
      byte_of[cp] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

uint32_t byte_to_code_point(uint8_t byte) { return tables().code_point[byte]; }

std::string_view byte_to_utf8(uint8_t byte) { return tables().utf8[byte]; }

std::optional<uint8_t> code_point_to_byte(uint32_t code_point) {
  if (code_point >= kMaxMapped) return std::nullopt;
  const int16_t b = tables().byte_of[code_point];
  if (b < 0) return std::nullopt;
  return static_cast<uint8_t>(b);
}

std::string decode_byte_level(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t length = utf8_sequence_length(text, pos);
    if (length == 0) {
      out.push_back(text[pos++]);
      continue;
    }
    const uint32_t cp = utf8_decode_at(text, pos, length);
    if (const auto byte = code_point_to_byte(cp)) {
      out.push_back(static_cast<char>(*byte));
    } else {
      out.append(text.data() + pos, length);
    }
    pos += length;
  }
  return out;
}

}  // namespace strata::tokenizer
