// How each quantized weight type maps onto integer sub-blocks, and the scratch the kernels need.
#include "backend/cpu/isa_kernels.h"

namespace strata::backend::cpu {

const QuantLayout* quant_layout(quant::Type type) {
  using quant::Type;
  //                                   group signed act mode          elems bytes
  static constexpr QuantLayout kQ4_0 = {32, false, ActMode::kPer32, 32, 18};
  static constexpr QuantLayout kQ4_1 = {32, false, ActMode::kPer32, 32, 20};
  static constexpr QuantLayout kQ5_0 = {32, false, ActMode::kPer32, 32, 22};
  static constexpr QuantLayout kQ5_1 = {32, false, ActMode::kPer32, 32, 24};
  static constexpr QuantLayout kQ8_0 = {32, true, ActMode::kPer32, 32, 34};
  static constexpr QuantLayout kIQ4_NL = {32, true, ActMode::kPer32, 32, 18};
  static constexpr QuantLayout kQ2_K = {16, false, ActMode::kPer256, 256, 84};
  static constexpr QuantLayout kQ3_K = {16, false, ActMode::kPer256, 256, 110};
  static constexpr QuantLayout kQ4_K = {32, false, ActMode::kPer256, 256, 144};
  static constexpr QuantLayout kQ5_K = {32, false, ActMode::kPer256, 256, 176};
  static constexpr QuantLayout kQ6_K = {16, false, ActMode::kPer256, 256, 210};
  static constexpr QuantLayout kIQ4_XS = {32, true, ActMode::kPer256, 256, 136};
  switch (type) {
    case Type::Q4_0: return &kQ4_0;
    case Type::Q4_1: return &kQ4_1;
    case Type::Q5_0: return &kQ5_0;
    case Type::Q5_1: return &kQ5_1;
    case Type::Q8_0: return &kQ8_0;
    case Type::IQ4_NL: return &kIQ4_NL;
    case Type::Q2_K: return &kQ2_K;
    case Type::Q3_K: return &kQ3_K;
    case Type::Q4_K: return &kQ4_K;
    case Type::Q5_K: return &kQ5_K;
    case Type::Q6_K: return &kQ6_K;
    case Type::IQ4_XS: return &kIQ4_XS;
    default: return nullptr;
  }
}

size_t scratch_bytes_per_thread(int64_t k) {
  const auto n = static_cast<size_t>(k);
  // A 16-row panel (bytes + per-16 scale and bias) and its 16 unpacked rows; or one
  // decoded row (scalar path); alignment slack.
  const size_t panel = 16 * n + 2 * 16 * (n / 16 + 1) * sizeof(float) + 16 * n;
  const size_t row = n + 2 * (n / 16 + 1) * sizeof(float);
  return (panel > row ? panel : row) + 8 * 64;
}

}  // namespace strata::backend::cpu
