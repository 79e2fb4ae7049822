// RoPE: the cos/sin table of a batch and the per-head rotation with the active kernels.
#include "backend/cpu/ops_rope.h"

#include <cmath>
#include <limits>
#include <utility>

#include "backend/cpu/ops_kernels.h"
#include "backend/cpu/ops_parallel.h"

namespace strata::backend::cpu {
namespace {

bool finite_positive(float v) { return std::isfinite(v) && v > 0.0f; }

}  // namespace

Result<RopeTable> RopeTable::create(RopeConfig config) {
  if (config.head_dim <= 0) return invalid_argument("rope: head dim {} must be > 0", config.head_dim);
  if (config.rope_dim == 0) config.rope_dim = config.head_dim;
  if (config.rope_dim < 0 || config.rope_dim % 2 != 0 || config.rope_dim > config.head_dim) {
    return invalid_argument("rope: rotated dims {} must be even, > 0 and at most the head dim {}", config.rope_dim,
                            config.head_dim);
  }
  if (!finite_positive(config.freq_base)) {
    return invalid_argument("rope: freq_base {} must be finite and > 0 (llama uses 10000, llama 3 500000)",
                            config.freq_base);
  }
  if (!finite_positive(config.freq_scale)) {
    return invalid_argument("rope: freq_scale {} must be finite and > 0 (1 means no scaling)", config.freq_scale);
  }
  const int64_t half = config.rope_dim / 2;
  if (!config.freq_factors.empty()) {
    if (static_cast<int64_t>(config.freq_factors.size()) != half) {
      return invalid_argument("rope: {} frequency factors given; {} rotated dims need {} (one per pair)",
                              config.freq_factors.size(), config.rope_dim, half);
    }
    for (size_t i = 0; i < config.freq_factors.size(); ++i) {
      if (!finite_positive(config.freq_factors[i])) {
        return invalid_argument("rope: frequency factor {} is {}; factors must be finite and > 0", i,
                                config.freq_factors[i]);
      }
    }
  }
  return RopeTable(std::move(config));
}

Status RopeTable::set_positions(std::span<const int32_t> positions, ThreadPool& pool) {
  const auto n = static_cast<int64_t>(positions.size());
  for (int64_t t = 0; t < n; ++t) {
    if (positions[static_cast<size_t>(t)] < 0) {
      return invalid_argument("rope: position {} of token {} is negative; positions start at 0",
                              positions[static_cast<size_t>(t)], t);
    }
  }
  const int64_t dim = config_.rope_dim;
  const int64_t half = dim / 2;
  if (n > std::numeric_limits<int64_t>::max() / 2 / dim / static_cast<int64_t>(sizeof(float))) {
    return invalid_argument("rope: a table for {} tokens overflows memory", n);
  }
  cos_.resize(static_cast<size_t>(n * dim));
  sin_.resize(static_cast<size_t>(n * dim));
  n_tokens_ = n;
  const float theta_scale = std::pow(config_.freq_base, -2.0f / static_cast<float>(dim));
  const float* factors = config_.freq_factors.empty() ? nullptr : config_.freq_factors.data();
  const bool neox = config_.mode == RopeMode::kNeox;
  // A cos/sin pair costs about as much as a few dozen element-wise floats.
  for_ranges(pool, n, half * 32, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      float* c = cos_.data() + t * dim;
      float* s = sin_.data() + t * dim;
      float theta = static_cast<float>(positions[static_cast<size_t>(t)]);
      for (int64_t i = 0; i < half; ++i) {
        const float ff = factors != nullptr ? factors[i] : 1.0f;
        const float angle = config_.freq_scale * (theta / ff);
        const float cv = std::cos(angle);
        const float sv = std::sin(angle);
        const int64_t first = neox ? i : 2 * i;
        const int64_t second = neox ? i + half : 2 * i + 1;
        c[first] = cv;
        c[second] = cv;
        s[first] = -sv;
        s[second] = sv;
        theta *= theta_scale;
      }
    }
  });
  return {};
}

Status rope(float* x, int64_t n_tokens, int64_t n_head, const RopeTable& table, ThreadPool& pool, int64_t x_stride) {
  if (n_tokens != table.n_tokens()) {
    return invalid_argument("rope: {} tokens given but the table holds positions for {}; call set_positions with "
                            "one position per token",
                            n_tokens, table.n_tokens());
  }
  const int64_t head_dim = table.config().head_dim;
  if (n_head <= 0 || n_head > std::numeric_limits<int64_t>::max() / 4 / head_dim) {
    return invalid_argument("rope: head count {} must be > 0 (head dim {})", n_head, head_dim);
  }
  const int64_t row = n_head * head_dim;
  if (x_stride == 0) x_stride = row;
  if (x_stride < row) {
    return invalid_argument("rope: row stride {} is shorter than {} heads of {} values; use 0 or a stride >= {}",
                            x_stride, n_head, head_dim, row);
  }
  if (n_tokens > 0 && x == nullptr) return invalid_argument("rope: null buffer passed for {} tokens", n_tokens);
  if (n_tokens > 0 && x_stride > std::numeric_limits<int64_t>::max() / 4 / n_tokens) {
    return invalid_argument("rope: {} tokens of stride {} overflow a 64-bit byte count", n_tokens, x_stride);
  }
  const OpKernels& k = active_op_kernels();
  const auto kernel = table.config().mode == RopeMode::kNeox ? k.rope_neox : k.rope_normal;
  const int64_t dim = table.rope_dim();
  for_ranges(pool, n_tokens, row, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* c = table.cos_row(t);
      const float* s = table.sin_row(t);
      float* xt = x + t * x_stride;
      for (int64_t h = 0; h < n_head; ++h) kernel(xt + h * head_dim, c, s, dim);
    }
  });
  return {};
}

}  // namespace strata::backend::cpu
