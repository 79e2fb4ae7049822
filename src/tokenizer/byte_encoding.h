// GPT-2's byte-to-unicode mapping: byte-level BPE vocabularies spell every byte as a printable
// code point (space is "Ġ" U+0120, newline "Ċ" U+010A), so any byte string has a token spelling.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace strata::tokenizer {

// The code point that stands for `byte` in byte-level vocabularies.
uint32_t byte_to_code_point(uint8_t byte);
// Its UTF-8 spelling (1 or 2 bytes).
std::string_view byte_to_utf8(uint8_t byte);
// The byte a code point stands for, or nullopt if it is not one of the 256.
std::optional<uint8_t> code_point_to_byte(uint32_t code_point);

// Decodes a byte-level token text into the raw bytes it stands for. Characters outside the
// mapping (a malformed vocabulary) are copied through unchanged.
std::string decode_byte_level(std::string_view token_text);

}  // namespace strata::tokenizer
