// f32/f16 conversion of hidden states for the wire.
#include "dist/hidden_codec.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "core/half.h"

namespace strata::dist {

static_assert(std::endian::native == std::endian::little, "hidden states travel as little-endian");

size_t hidden_element_bytes(v1::HiddenType type) { return type == v1::HIDDEN_F16 ? 2 : 4; }

void encode_hidden(std::span<const float> hidden, v1::HiddenType type, std::string& out) {
  if (type == v1::HIDDEN_F16) {
    out.resize(hidden.size() * 2);
    for (size_t i = 0; i < hidden.size(); ++i) {
      const uint16_t h = fp32_to_fp16(hidden[i]);
      std::memcpy(out.data() + i * 2, &h, 2);
    }
    return;
  }
  out.resize(hidden.size() * sizeof(float));
  std::memcpy(out.data(), hidden.data(), out.size());
}

Status decode_hidden(const std::string& bytes, v1::HiddenType type, std::span<float> out) {
  if (type != v1::HIDDEN_F32 && type != v1::HIDDEN_F16) {
    return invalid_argument("hidden state type {} is unknown; use 0 (f32) or 1 (f16)", static_cast<int>(type));
  }
  const size_t want = out.size() * hidden_element_bytes(type);
  if (bytes.size() != want) {
    return invalid_argument("hidden states of {} bytes; the batch needs {} values of {} bytes = {} bytes",
                            bytes.size(), out.size(), hidden_element_bytes(type), want);
  }
  if (type == v1::HIDDEN_F16) {
    for (size_t i = 0; i < out.size(); ++i) {
      uint16_t h = 0;
      std::memcpy(&h, bytes.data() + i * 2, 2);
      out[i] = fp16_to_fp32(h);
    }
  } else {
    std::memcpy(out.data(), bytes.data(), want);
  }
  // A stage computes nothing useful from inf or NaN, and the CPU backend's int8 activation
  // quantization is only defined for finite values.
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) {
      return invalid_argument("hidden state value {} of {} is {}, not a finite number; {}", i, out.size(), out[i],
                              type == v1::HIDDEN_F16 ? "f16 holds values up to 65504 only: send f32 hidden states"
                                                     : "the stage that computed it overflowed");
    }
  }
  return {};
}

}  // namespace strata::dist
