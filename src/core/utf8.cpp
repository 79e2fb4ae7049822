// UTF-8 validation and decoding following the Unicode well-formedness table (Table 3-7).
#include "core/utf8.h"

namespace strata {
namespace {

// Valid range for the second byte given the lead byte; later bytes are always 80..BF.
struct SecondByteRange {
  uint8_t low;
  uint8_t high;
};

SecondByteRange second_byte_range(uint8_t lead) {
  switch (lead) {
    case 0xE0: return {0xA0, 0xBF};  // no overlong 3-byte forms
    case 0xED: return {0x80, 0x9F};  // no surrogates
    case 0xF0: return {0x90, 0xBF};  // no overlong 4-byte forms
    case 0xF4: return {0x80, 0x8F};  // nothing above U+10FFFF
    default: return {0x80, 0xBF};
  }
}

bool is_continuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

}  // namespace

size_t utf8_lead_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 1;
}

size_t utf8_sequence_length(std::string_view text, size_t pos) {
  const auto lead = static_cast<uint8_t>(text[pos]);
  if (lead < 0x80) return 1;
  const size_t length = utf8_lead_length(lead);
  if (length == 1) return 0;  // continuation byte or C0, C1, F5..FF
  if (pos + length > text.size()) return 0;
  const auto second = static_cast<uint8_t>(text[pos + 1]);
  const SecondByteRange range = second_byte_range(lead);
  if (second < range.low || second > range.high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (!is_continuation(static_cast<uint8_t>(text[pos + i]))) return 0;
  }
  return length;
}

uint32_t utf8_decode_at(std::string_view text, size_t pos, size_t length) {
  const auto b0 = static_cast<uint8_t>(text[pos]);
  if (length == 1) return b0;
  uint32_t cp = b0 & (0xFF >> (length + 1));
  for (size_t i = 1; i < length; ++i) cp = (cp << 6) | (static_cast<uint8_t>(text[pos + i]) & 0x3F);
  return cp;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::optional<size_t> find_invalid_utf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    // ASCII runs are the common case; skip them without the table lookups.
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const size_t length = utf8_sequence_length(text, pos);
    if (length == 0) return pos;
    pos += length;
  }
  return std::nullopt;
}

Status check_utf8(std::string_view text) {
  const std::optional<size_t> bad = find_invalid_utf8(text);
  if (!bad) return {};
  return invalid_argument(
      "text is not valid UTF-8: byte 0x{:02X} at offset {} does not start a well-formed sequence "
      "(pass UTF-8 text, or replace bad bytes with U+FFFD first)",
      static_cast<uint8_t>(text[*bad]), *bad);
}

size_t utf8_invalid_span(std::string_view text, size_t pos, bool* complete) {
  if (complete != nullptr) *complete = true;
  const auto lead = static_cast<uint8_t>(text[pos]);
  const size_t length = utf8_lead_length(lead);
  if (length == 1) return 1;  // a byte that can never start a sequence
  // Count how many following bytes still fit a well-formed sequence: the maximal subpart.
  const SecondByteRange range = second_byte_range(lead);
  size_t n = 1;
  while (n < length && pos + n < text.size()) {
    const auto byte = static_cast<uint8_t>(text[pos + n]);
    const bool fits = n == 1 ? (byte >= range.low && byte <= range.high) : is_continuation(byte);
    if (!fits) return n;
    ++n;
  }
  if (n < length && complete != nullptr) *complete = false;  // ran out of input mid-sequence
  return n;
}

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t length = utf8_sequence_length(text, pos);
    if (length > 0) {
      out.append(text.data() + pos, length);
      pos += length;
    } else {
      out.append(kReplacementUtf8);
      pos += utf8_invalid_span(text, pos, nullptr);
    }
  }
  return out;
}

}  // namespace strata
