// The CUDA implementation of the Backend interface: device memory from cudaMalloc, weights
// copied to the GPU at load, every op enqueued on one stream (no host synchronisation inside
// an op; read() waits for the stream). Steps of up to 8 tokens (decode) run as CUDA graphs
// re-used from step to step (step_graph.h). Decode matmuls (up to 8 tokens) use the warp-per-row
// kernels of matvec_q8.cu (block types, int8 dot products; in graphs, consecutive ones on the
// same input share one launch, and on sm_90 they start early: dependent_launch.cuh) and
// matmul.cu (f32/f16/bf16);
// larger batches cuBLAS on f16 (bf16, f32) operands, block types dequantized to f16 first.
// Attention: CUDA-core flash kernels for decode (attention.cu), tensor cores for prefill
// batches (attention_mma.cu); K and V decoders chosen at run time for all 81 pairs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "backend/backend.h"
#include "core/status.h"

namespace strata::backend {

// A CUDA backend on GPU `device` (0-based). Errors: no CUDA device or driver, a device index
// out of range (the message lists the devices), a device that cannot run the sm_80/sm_90 code.
Result<std::unique_ptr<Backend>> make_cuda_backend(int device);

// Number of CUDA devices usable now (0 without a driver or GPU); never fails.
int cuda_device_count();

}  // namespace strata::backend

namespace strata::backend::cuda {

class CudaBackend final : public Backend {
 public:
  static Result<std::unique_ptr<CudaBackend>> create(int device);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  int device() const { return device_; }

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
  Status add_bias(float* x, const WeightView& bias, int64_t n_tokens, int64_t n, int64_t x_stride) override;
  Result<std::unique_ptr<RopeAngles>> create_rope(const RopeParams& params) override;
  Status rope(float* x, int64_t n_tokens, int64_t n_head, const RopeAngles& angles, int64_t x_stride) override;
  Status write_kv(quant::Type type, const float* src, int64_t n_rows, int64_t row_elems, void* dst,
                  size_t dst_stride, int64_t src_stride) override;
  Status attention(const AttentionCall& call) override;
  Status swiglu(const float* gate, const float* up, float* out, int64_t n_tokens, int64_t n) override;
  Status add(const float* a, const float* b, float* out, int64_t n_tokens, int64_t n) override;

  // Copies host metadata (ids, positions) to device memory that stays valid for the ops
  // enqueued next; no host synchronisation unless the staging ring is a full lap behind.
  Result<const int32_t*> upload(std::span<const int32_t> values, std::string_view op);
  // Waits for everything enqueued; the error of any failed kernel comes back here.
  Status synchronize(std::string_view op);

  // How steps ran so far (step_graph.h): graphs replayed as cached, graphs captured (new or
  // updated), small steps launched op by op (one op could not go into a graph).
  struct StepCounts {
    uint64_t replayed = 0;
    uint64_t captured = 0;
    uint64_t eager = 0;
  };
  StepCounts step_counts() const;

  // The device's free and total memory now (cudaMemGetInfo), e.g. to check that a long run
  // does not grow its allocations.
  struct MemoryInfo {
    size_t free_bytes = 0;
    size_t total_bytes = 0;
  };
  Result<MemoryInfo> memory_info() const;

  struct Impl;  // CUDA handles, scratch and staging (cuda_backend.cpp)

 private:
  CudaBackend(int device, std::unique_ptr<Impl> impl);

  int device_;
  std::unique_ptr<Impl> impl_;
  Capabilities caps_;
};

}  // namespace strata::backend::cuda
