// Portable C++ path of the CPU kernels: the fallback on any CPU and the reference the SIMD
// paths are tested against (same activation quantization, same integer sums).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backend/cpu/isa_kernels.h"
#include "core/half.h"
#include "quant/blocks.h"
#include "quant/type.h"

namespace strata::backend::cpu {
namespace scalar_path {
namespace {

inline float load_half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof h);
  return fp16_to_fp32(h);
}

}  // namespace

#include "backend/cpu/weight_decoders.inc"

namespace {

inline uint8_t* align64(uint8_t* p) {
  return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t{63});
}

// The rounding every path uses: scale amax/127, q = round-half-even(x * 127/amax). The SIMD
// paths compute the same float operations, so all paths see identical activations.
void quantize_acts(const float* x, int64_t k, ActMode mode, const ActRowOut& out) {
  const int64_t group = mode == ActMode::kPer32 ? 32 : 256;
  for (int64_t g0 = 0; g0 < k; g0 += group) {
    float amax = 0.f;
    for (int64_t j = g0; j < g0 + group; ++j) {
      const float a = std::fabs(x[j]);
      amax = a > amax ? a : amax;
    }
    const float d = amax / 127.f;
    const float id = amax != 0.f ? 127.f / amax : 0.f;
    for (int64_t c = g0; c < g0 + group; c += 32) {
      int sums[2] = {0, 0};
      for (int64_t j = 0; j < 32; ++j) {
        float v = x[c + j] * id;
        v = v > 127.f ? 127.f : (v < -127.f ? -127.f : v);
        const int q = v == v ? static_cast<int>(std::nearbyint(v)) : 0;  // NaN input: 0, not UB
        out.qs[c + j] = static_cast<int8_t>(q);
        sums[j / 16] += q;
      }
      out.d32[c / 32] = d;
      out.s32[c / 32] = d * static_cast<float>(sums[0] + sums[1]);
      out.neg_sum32[c / 32] = -(sums[0] + sums[1]);
      for (int h = 0; h < 2; ++h) {
        out.s16[c / 16 + h] = d * static_cast<float>(sums[h]);
        out.bsum16[c / 16 + h] = static_cast<int16_t>(sums[h]);
        out.neg_sum16[c / 16 + h] = -sums[h];
      }
    }
  }
}

void round_acts(quant::Type type, const float* x, float* out, int64_t k) {
  if (type == quant::Type::F16) {
    for (int64_t i = 0; i < k; ++i) out[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
  } else {
    for (int64_t i = 0; i < k; ++i) out[i] = bf16_to_fp32(fp32_to_bf16(x[i]));
  }
}

void quant_rows(const RowJob& job) {
  const QuantLayout& layout = *quant_layout(job.type);
  const int g = layout.group;
  const int64_t n_sub = job.k / g;
  uint8_t* q = align64(job.scratch);
  auto* scale = reinterpret_cast<float*>(align64(q + job.k));
  float* bias = scale + n_sub;
  const QuantActs& a = *job.acts;
  for (int64_t r = job.row_begin; r < job.row_end; ++r) {
    RowSink sink{q, scale, bias, g};
    decode_row(job.type, job.w + static_cast<size_t>(r) * job.row_bytes, job.k, sink);
    for (int64_t t = 0; t < job.n_tokens; ++t) {
      const int8_t* xq = a.qs + t * a.qs_stride;
      const float* d32 = a.d32 + t * a.n32_stride;
      const float* sums = g == 32 ? a.s32 + t * a.n32_stride : a.s16 + t * a.n16_stride;
      float acc = 0.f;
      for (int64_t sb = 0; sb < n_sub; ++sb) {
        const uint8_t* wq = q + sb * g;
        const int8_t* xs = xq + sb * g;
        int32_t isum = 0;
        if (layout.is_signed) {
          for (int j = 0; j < g; ++j) isum += static_cast<int8_t>(wq[j]) * xs[j];
        } else {
          for (int j = 0; j < g; ++j) isum += wq[j] * xs[j];
        }
        acc += scale[sb] * d32[sb * g / 32] * static_cast<float>(isum) + bias[sb] * sums[sb];
      }
      job.y[t * job.y_stride + r] = acc;
    }
  }
}

float load_weight(quant::Type type, const uint8_t* row, int64_t i) {
  uint16_t h;
  switch (type) {
    case quant::Type::F32: {
      float f;
      std::memcpy(&f, row + 4 * i, 4);
      return f;
    }
    case quant::Type::F16:
      std::memcpy(&h, row + 2 * i, 2);
      return fp16_to_fp32(h);
    default:
      std::memcpy(&h, row + 2 * i, 2);
      return bf16_to_fp32(h);
  }
}

void float_rows(const RowJob& job) {
  for (int64_t r = job.row_begin; r < job.row_end; ++r) {
    const uint8_t* row = job.w + static_cast<size_t>(r) * job.row_bytes;
    for (int64_t t = 0; t < job.n_tokens; ++t) {
      const float* x = job.xf + t * job.xf_stride;
      float acc = 0.f;
      for (int64_t i = 0; i < job.k; ++i) acc += load_weight(job.type, row, i) * x[i];
      job.y[t * job.y_stride + r] = acc;
    }
  }
}

constexpr IsaKernels kKernels = {quantize_acts, round_acts, quant_rows, float_rows};

}  // namespace
}  // namespace scalar_path

const IsaKernels& scalar_kernels() { return scalar_path::kKernels; }

}  // namespace strata::backend::cpu
