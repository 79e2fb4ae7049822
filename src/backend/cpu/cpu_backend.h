// The CPU implementation of the Backend interface: host memory, weights used in place from the
// GGUF mapping, and the x86-64 kernels of backend/cpu on one shared thread pool.
#pragma once

#include <cstddef>
#include <memory>

#include "backend/backend.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/matmul.h"
#include "core/status.h"
#include "core/thread_pool.h"

namespace strata::backend::cpu {

// Most threads a CPU backend accepts (-t); more would only oversubscribe any real machine.
inline constexpr int kMaxThreads = 1024;

class CpuBackend final : public Backend {
 public:
  // n_threads counts the calling thread; the error says the accepted range.
  static Result<std::unique_ptr<CpuBackend>> create(int n_threads);

  ~CpuBackend() override;
  CpuBackend(const CpuBackend&) = delete;
  CpuBackend& operator=(const CpuBackend&) = delete;

  ThreadPool& pool() { return pool_; }
  int n_threads() const { return static_cast<int>(pool_.size()); }

  const Capabilities& capabilities() const override { return caps_; }
  Status check_weight_type(std::string_view tensor, quant::Type type) const override;
  Status check_kv_types(quant::Type k_type, quant::Type v_type, int head_dim) const override;

  Result<std::unique_ptr<DeviceBuffer>> allocate(size_t bytes, std::string_view what) override;
  Result<WeightView> load_weight(quant::Type type, std::span<const uint8_t> bytes, int64_t n_cols,
                                 int64_t n_rows) override;
  Status write(void* device_dst, const void* host_src, size_t bytes) override;
  Status read(void* host_dst, const void* device_src, size_t bytes) override;
  Status copy(void* device_dst, const void* device_src, size_t bytes) override;

  Status get_rows(const WeightView& table, std::span<const int32_t> ids, float* out) override;
  Status rms_norm(const float* x, const WeightView& w, float* y, int64_t n_tokens, int64_t n, float eps) override;
  Status matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride) override;
  Status matmul_group(std::span<const Product> products, const float* x, int64_t n_tokens) override;
  void release_idle_threads() override { pool_.park(); }
  Status add_bias(float* x, const WeightView& bias, int64_t n_tokens, int64_t n, int64_t x_stride) override;
  Result<std::unique_ptr<RopeAngles>> create_rope(const RopeParams& params) override;
  Status rope(float* x, int64_t n_tokens, int64_t n_head, const RopeAngles& angles, int64_t x_stride) override;
  Status write_kv(quant::Type type, const float* src, int64_t n_rows, int64_t row_elems, void* dst,
                  size_t dst_stride, int64_t src_stride) override;
  Status attention(const AttentionCall& call) override;
  Status swiglu(const float* gate, const float* up, float* out, int64_t n_tokens, int64_t n) override;
  Status add(const float* a, const float* b, float* out, int64_t n_tokens, int64_t n) override;

 private:
  explicit CpuBackend(int n_threads);

  ThreadPool pool_;
  // One forward pass at a time uses a backend, so one scratch of each kind is enough; they
  // grow to the largest call and are then reused (no allocation per token).
  MatmulScratch matmul_scratch_;
  AttentionScratch attention_scratch_;
  Capabilities caps_;
};

}  // namespace strata::backend::cpu
