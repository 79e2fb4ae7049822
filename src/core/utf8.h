// UTF-8 helpers (tokenizers, templates, the server): validation, code point decoding, replacement of bad bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace strata {

inline constexpr uint32_t kReplacementChar = 0xFFFD;
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// Length of the well-formed UTF-8 sequence starting at `text[pos]` (1-4), or 0 when the bytes
// there do not form one (stray continuation byte, overlong form, surrogate, > U+10FFFF,
// or a sequence cut off by the end of `text`).
size_t utf8_sequence_length(std::string_view text, size_t pos);

// Length a sequence would have judging by its first byte alone (1 for invalid lead bytes).
size_t utf8_lead_length(uint8_t lead);

// Decodes the well-formed sequence at `pos` (caller checked utf8_sequence_length > 0).
uint32_t utf8_decode_at(std::string_view text, size_t pos, size_t length);

void utf8_append(std::string& out, uint32_t code_point);

// Offset of the first byte that is not part of well-formed UTF-8, or nullopt if all is valid.
std::optional<size_t> find_invalid_utf8(std::string_view text);

// Ok, or an invalid_argument error naming the offset and the byte found there.
Status check_utf8(std::string_view text);

// Valid UTF-8 with every ill-formed subsequence replaced by U+FFFD (maximal subparts, as the
// Unicode standard recommends: "\xE2\x82" becomes one U+FFFD, "\xFF\xFE" two).
std::string sanitize_utf8(std::string_view text);

// How many bytes of `text` (a maximal subpart of an ill-formed sequence) one U+FFFD replaces,
// starting at `pos`; at least 1. `complete` is false when the bytes are a valid prefix that
// the end of `text` cut off (more input could still complete them).
size_t utf8_invalid_span(std::string_view text, size_t pos, bool* complete);

}  // namespace strata
