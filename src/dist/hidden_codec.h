// Hidden states on the wire: f32 (exact) or f16 (half the bytes), little-endian rows.
#pragma once

#include <span>
#include <string>

#include "core/status.h"
#include "dist/proto/worker.pb.h"

namespace strata::dist {

void encode_hidden(std::span<const float> hidden, v1::HiddenType type, std::string& out);
// Error when the byte count is not exactly out.size() values of `type`, or a value is inf or NaN.
Status decode_hidden(const std::string& bytes, v1::HiddenType type, std::span<float> out);
size_t hidden_element_bytes(v1::HiddenType type);

}  // namespace strata::dist
