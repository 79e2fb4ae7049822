// Portable attention tile kernels: the fallback on any CPU and the reference the SIMD paths
// are tested against.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cpu/attention_kernels.h"

namespace strata::backend::cpu::detail {
namespace {

void qk(const float* q, int rows, const float* k, int cells, int hd, float* s, int ld_s) {
  for (int r = 0; r < rows; ++r) {
    const float* qr = q + static_cast<int64_t>(r) * hd;
    for (int c = 0; c < cells; ++c) {
      const float* kc = k + static_cast<int64_t>(c) * hd;
      float sum = 0.f;
      for (int d = 0; d < hd; ++d) sum += qr[d] * kc[d];
      s[static_cast<int64_t>(r) * ld_s + c] = sum;
    }
  }
}

void qk_t(const float* qt, int rows_pad, const float* k, int cells, int hd, float* st) {
  for (int c = 0; c < cells; ++c) {
    const float* kc = k + static_cast<int64_t>(c) * hd;
    float* out = st + static_cast<int64_t>(c) * rows_pad;
    for (int r = 0; r < rows_pad; ++r) {
      float sum = 0.f;
      for (int d = 0; d < hd; ++d) sum += qt[static_cast<int64_t>(d) * rows_pad + r] * kc[d];
      out[r] = sum;
    }
  }
}

void pv(const float* p, int64_t p_rs, int64_t p_cs, int rows, const float* v, int cells, int hd, float* o,
        int ld_o) {
  for (int r = 0; r < rows; ++r) {
    float* orow = o + static_cast<int64_t>(r) * ld_o;
    const float* prow = p + r * p_rs;
    for (int c = 0; c < cells; ++c) {
      const float w = prow[c * p_cs];
      const float* vc = v + static_cast<int64_t>(c) * hd;
      for (int d = 0; d < hd; ++d) orow[d] += w * vc[d];
    }
  }
}

void softmax_tile(float* s, int ld_s, int rows, int cells, const int* valid, float* m, float* l, float* corr) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int r = 0; r < rows; ++r) {
    float* row = s + static_cast<int64_t>(r) * ld_s;
    const int n = valid[r];
    corr[r] = 1.f;
    if (n <= 0) {
      for (int c = 0; c < cells; ++c) row[c] = 0.f;
      continue;
    }
    float mt = row[0];
    for (int c = 1; c < n; ++c) mt = row[c] > mt ? row[c] : mt;
    const float m_new = mt > m[r] ? mt : m[r];
    if (m_new != m[r]) corr[r] = m[r] == kNegInf ? 0.f : std::exp(m[r] - m_new);
    float sum = 0.f;
    for (int c = 0; c < n; ++c) {
      row[c] = std::exp(row[c] - m_new);
      sum += row[c];
    }
    for (int c = n; c < cells; ++c) row[c] = 0.f;
    l[r] = l[r] * corr[r] + sum;
    m[r] = m_new;
  }
}

// Score (cell c, row r) of a transposed layout.
inline float& at(float* st, int c, int r, int rows_pad) { return st[static_cast<int64_t>(c) * rows_pad + r]; }

void softmax_tile_t(float* st, int rows_pad, int cells, const int* valid, float* m, float* l, float* corr) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int r = 0; r < rows_pad; ++r) {
    const int n = valid[r];
    corr[r] = 1.f;
    if (n <= 0) {
      for (int c = 0; c < cells; ++c) at(st, c, r, rows_pad) = 0.f;
      continue;
    }
    float mt = at(st, 0, r, rows_pad);
    for (int c = 1; c < n; ++c) mt = std::max(mt, at(st, c, r, rows_pad));
    const float m_new = mt > m[r] ? mt : m[r];
    if (m_new != m[r]) corr[r] = m[r] == kNegInf ? 0.f : std::exp(m[r] - m_new);
    float sum = 0.f;
    for (int c = 0; c < cells; ++c) {
      float& x = at(st, c, r, rows_pad);
      x = c < n ? std::exp(x - m_new) : 0.f;
      sum += x;
    }
    l[r] = l[r] * corr[r] + sum;
    m[r] = m_new;
  }
}

void softmax_rows_t(float* st, int rows_pad, int cells, const int* limit, float* sum) {
  for (int r = 0; r < rows_pad; ++r) {
    const int n = std::min(limit[r], cells);
    float mx = -std::numeric_limits<float>::infinity();
    for (int c = 0; c < n; ++c) mx = std::max(mx, at(st, c, r, rows_pad));
    float total = 0.f;
    for (int c = 0; c < cells; ++c) {
      float& x = at(st, c, r, rows_pad);
      x = c < n ? std::exp(x - mx) : 0.f;
      total += x;
    }
    sum[r] = total;
  }
}

float exp_sum(float* x, int n, float max) {
  float sum = 0.f;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  return sum;
}

float max_of(const float* x, int n) {
  float m = x[0];
  for (int i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

}  // namespace

const AttnKernels& attn_kernels_scalar() {
  static const AttnKernels kernels{16,      qk,     qk_t, pv, softmax_tile, softmax_tile_t, softmax_rows_t,
                                   exp_sum, max_of};
  return kernels;
}

}  // namespace strata::backend::cpu::detail
