// Encoding and decoding of GGUF metadata values (internal to gguf/).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "gguf/byte_reader.h"
#include "gguf/value.h"

namespace strata::gguf {

// Reads one value of `type` (already read from the file). Every count and length is checked
// against the bytes left before anything is allocated; arrays nest at most kMaxArrayDepth.
Result<Value> read_value(ByteReader& reader, ValueType type, int depth = 0);

// Checks that a value can be encoded (arrays of arrays hold only arrays, depth bounded).
Status check_encodable(const Value& value, int depth = 0);

// Appends the value's bytes (without its type id) to `out`; check_encodable first.
void append_value(std::vector<uint8_t>& out, const Value& value);

// Appends a little-endian u32/u64 or a GGUF string.
void append_u32(std::vector<uint8_t>& out, uint32_t v);
void append_u64(std::vector<uint8_t>& out, uint64_t v);
void append_string(std::vector<uint8_t>& out, std::string_view s);

}  // namespace strata::gguf
