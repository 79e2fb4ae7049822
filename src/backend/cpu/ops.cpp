// The non-matmul ops: argument checks, the split across threads, then the row kernels of
// the active instruction set (ops_kernels.h).
#include "backend/cpu/ops.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>

#include "backend/cpu/ops_kernels.h"
#include "backend/cpu/ops_parallel.h"
#include "quant/convert.h"

namespace strata::backend::cpu {
namespace {

// Flat element-wise ops are split into ranges of whole cache lines.
constexpr int64_t kElemAlign = 16;

Status check_shape(std::string_view op, int64_t n_tokens, int64_t n) {
  if (n_tokens < 0 || n <= 0) {
    return invalid_argument("{}: {} tokens of {} values each; the token count must be >= 0 and the row length > 0",
                            op, n_tokens, n);
  }
  if (n_tokens > 0 && n > std::numeric_limits<int64_t>::max() / static_cast<int64_t>(sizeof(float)) / n_tokens) {
    return invalid_argument("{}: {} tokens of {} values overflow a 64-bit byte count", op, n_tokens, n);
  }
  return {};
}

Status check_pointers(std::string_view op, int64_t n_tokens, std::initializer_list<const void*> pointers) {
  if (n_tokens == 0) return {};
  for (const void* p : pointers) {
    if (p == nullptr) return invalid_argument("{}: null buffer passed for {} tokens", op, n_tokens);
  }
  return {};
}

std::string dequantizable_type_names() {
  std::string names;
  for (const quant::TypeInfo& info : quant::all_types()) {
    if (!info.can_dequantize) continue;
    if (!names.empty()) names += ", ";
    names += info.name;
  }
  return names;
}

}  // namespace

Status get_rows(quant::Type type, const void* data, size_t row_bytes, int64_t n_vocab, int64_t n_embd,
                std::span<const int32_t> ids, float* out, ThreadPool& pool) {
  const quant::TypeInfo& info = quant::type_info(type);
  if (!info.can_dequantize) {
    return unsupported("get_rows: embedding rows of type {} (id {}) cannot be read; supported types: {}", info.name,
                       static_cast<uint32_t>(type), dequantizable_type_names());
  }
  const auto n_tokens = static_cast<int64_t>(ids.size());
  STRATA_TRY(check_shape("get_rows", n_tokens, n_embd));
  if (n_vocab <= 0) return invalid_argument("get_rows: vocabulary of {} rows; it must have at least one", n_vocab);
  auto bytes = quant::row_bytes(type, static_cast<uint64_t>(n_embd));
  if (!bytes.ok()) return bytes.status().with_context("get_rows");
  if (row_bytes < *bytes) {
    return invalid_argument("get_rows: row stride of {} bytes is shorter than a row of {} {} values ({} bytes)",
                            row_bytes, n_embd, info.name, *bytes);
  }
  if (n_vocab > 1 && row_bytes > std::numeric_limits<size_t>::max() / static_cast<size_t>(n_vocab)) {
    return invalid_argument("get_rows: {} rows of {} bytes overflow the address space", n_vocab, row_bytes);
  }
  STRATA_TRY(check_pointers("get_rows", n_tokens, {data, out}));
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int32_t id = ids[static_cast<size_t>(t)];
    if (id < 0 || id >= n_vocab) {
      return invalid_argument("get_rows: token id {} at position {} is outside the vocabulary of {} tokens "
                              "(valid ids: 0 to {})",
                              id, t, n_vocab, n_vocab - 1);
    }
  }
  const auto* base = static_cast<const uint8_t*>(data);
  // Arguments were checked above, so a row can fail only on a quant bug; keep the first.
  std::atomic<bool> failed{false};
  Status first_error;
  for_ranges(pool, n_tokens, n_embd, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const uint8_t* row = base + static_cast<size_t>(ids[static_cast<size_t>(t)]) * row_bytes;
      Status st = quant::dequantize_row(type, row, out + t * n_embd, n_embd);
      if (!st.ok() && !failed.exchange(true)) first_error = std::move(st);
    }
  });
  if (failed.load()) return first_error.with_context("get_rows");
  return {};
}

Status rms_norm(const float* x, const float* w, float* y, int64_t n_tokens, int64_t n, float eps,
                ThreadPool& pool) {
  STRATA_TRY(check_shape("rms_norm", n_tokens, n));
  if (!std::isfinite(eps) || eps < 0.0f) {
    return invalid_argument("rms_norm: epsilon {} must be finite and >= 0 (models use 1e-5 or 1e-6)", eps);
  }
  STRATA_TRY(check_pointers("rms_norm", n_tokens, {x, y}));
  const OpKernels& k = active_op_kernels();
  for_ranges(pool, n_tokens, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const float* xt = x + t * n;
      // As llama.cpp: the mean rounded to float, then the scale in float.
      const auto mean = static_cast<float>(k.sum_squares(xt, n) / static_cast<double>(n));
      const float scale = 1.0f / std::sqrt(mean + eps);
      k.scale_mul(xt, scale, w, y + t * n, n);
    }
  });
  return {};
}

Status swiglu(const float* gate, const float* up, float* out, int64_t n_tokens, int64_t n, ThreadPool& pool) {
  STRATA_TRY(check_shape("swiglu", n_tokens, n));
  STRATA_TRY(check_pointers("swiglu", n_tokens, {gate, up, out}));
  const OpKernels& k = active_op_kernels();
  for_ranges(pool, n_tokens * n, 1, kElemAlign, [&](int64_t begin, int64_t end) {
    k.swiglu(gate + begin, up + begin, out + begin, end - begin);
  });
  return {};
}

Status add(const float* a, const float* b, float* out, int64_t n_tokens, int64_t n, ThreadPool& pool) {
  STRATA_TRY(check_shape("add", n_tokens, n));
  STRATA_TRY(check_pointers("add", n_tokens, {a, b, out}));
  const OpKernels& k = active_op_kernels();
  for_ranges(pool, n_tokens * n, 1, kElemAlign,
             [&](int64_t begin, int64_t end) { k.add(a + begin, b + begin, out + begin, end - begin); });
  return {};
}

Status add_bias(float* x, const float* bias, int64_t n_tokens, int64_t n, ThreadPool& pool, int64_t x_stride) {
  STRATA_TRY(check_shape("add_bias", n_tokens, n));
  if (x_stride == 0) x_stride = n;
  if (x_stride < n) {
    return invalid_argument("add_bias: row stride {} is shorter than the row length {}; use 0 or a stride >= {}",
                            x_stride, n, n);
  }
  STRATA_TRY(check_shape("add_bias", n_tokens, x_stride));
  STRATA_TRY(check_pointers("add_bias", n_tokens, {x, bias}));
  const OpKernels& k = active_op_kernels();
  for_ranges(pool, n_tokens, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) k.add(x + t * x_stride, bias, x + t * x_stride, n);
  });
  return {};
}

Status scale(const float* x, float s, float* y, int64_t n_tokens, int64_t n, ThreadPool& pool) {
  STRATA_TRY(check_shape("scale", n_tokens, n));
  STRATA_TRY(check_pointers("scale", n_tokens, {x, y}));
  const OpKernels& k = active_op_kernels();
  for_ranges(pool, n_tokens * n, 1, kElemAlign,
             [&](int64_t begin, int64_t end) { k.scale_mul(x + begin, s, nullptr, y + begin, end - begin); });
  return {};
}

}  // namespace strata::backend::cpu
