// The Backend interface: device memory, the ops of a Llama/Qwen2 layer and what a device can do.
// A Stage's forward pass is written against this interface only, so the same layer loop runs
// on the CPU backend today and on a CUDA backend (or inside a remote worker) later.
//
// Conventions shared by every op:
// - Activations are f32, row-major [n_tokens][n], in the backend's memory ("device pointers":
//   DeviceBuffer::data() or offsets into it). On the CPU they are ordinary host pointers.
// - Small per-batch metadata (token ids, positions) is passed as host spans; a device backend
//   uploads it itself.
// - Every op checks its arguments and returns an error Status; nothing asserts.
// - Ops run in call order; read() returns after everything issued before it has finished.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "quant/type.h"

namespace strata::backend {

// A weight tensor as a backend holds it: n_rows rows of n_cols elements of `type`, row r at
// data + r * row_bytes (device memory). A vector (norm weight, bias) has n_rows == 1.
struct WeightView {
  quant::Type type = quant::Type::F32;
  const void* data = nullptr;
  int64_t n_cols = 0;  // ggml ne[0]: elements per row
  int64_t n_rows = 0;  // ggml ne[1]
  size_t row_bytes = 0;

  bool empty() const { return data == nullptr; }
  const float* floats() const { return static_cast<const float*>(data); }  // for F32 vectors
};

// Memory a backend allocated (activations, KV cache); released with the object.
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  virtual void* data() = 0;
  virtual size_t size() const = 0;
  float* floats() { return static_cast<float*>(data()); }
};

// What a backend can do, so callers can refuse a configuration before loading anything.
struct Capabilities {
  std::string name;         // "cpu", "cuda"
  std::string device;       // e.g. "x86-64 avx512, 2 threads"
  std::vector<quant::Type> weight_types;  // types matmul accepts
  std::vector<quant::Type> kv_types;      // K or V cache element types (any pair of them)
  std::vector<int> head_dims;             // attention head sizes supported with every pair
  uint64_t memory_bytes = 0;              // device memory in total
  uint64_t free_memory_bytes = 0;         // available when asked
};

enum class RopeMode {
  kNormal,  // rotates pairs (x[2i], x[2i+1]): llama
  kNeox,    // rotates pairs (x[i], x[i + rope_dim/2]): qwen2
};

struct RopeParams {
  int64_t head_dim = 0;
  int64_t rope_dim = 0;          // leading values of each head that rotate; 0: all
  RopeMode mode = RopeMode::kNormal;
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;       // 1 / linear scaling factor
  std::vector<float> freq_factors;  // empty, or rope_dim / 2 divisors (Llama 3 rope_freqs)
};

// Rotation angles of one batch: filled once per forward pass, used by every layer's rope().
class RopeAngles {
 public:
  virtual ~RopeAngles() = default;
  virtual Status set_positions(std::span<const int32_t> positions) = 0;
};

// One sequence's attention for one layer over its KV cells 0..n_kv-1 (see backend/cpu/attention.h
// for the cache row layout). Token t attends cells 0..positions[t], inclusive.
struct AttentionCall {
  const float* q = nullptr;      // [n_tokens][n_head][head_dim], rows q_stride floats apart
  int64_t q_stride = 0;          // 0: n_head * head_dim
  std::span<const int32_t> positions;  // host, one per token
  quant::Type k_type = quant::Type::F16;
  const void* k = nullptr;       // cell c's K row at k + c * k_stride
  size_t k_stride = 0;
  quant::Type v_type = quant::Type::F16;
  const void* v = nullptr;
  size_t v_stride = 0;
  int64_t n_kv = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  float scale = 0.0f;
  bool flash = true;             // false: the plain path (-fa off)
  float* out = nullptr;          // [n_tokens][n_head][head_dim]
  int64_t out_stride = 0;        // 0: n_head * head_dim
};

class Backend {
 public:
  virtual ~Backend() = default;

  // ---- capabilities -------------------------------------------------------------------
  virtual const Capabilities& capabilities() const = 0;
  // Whether matmul accepts weights of this type; the error lists the types that work.
  virtual Status check_weight_type(std::string_view tensor, quant::Type type) const = 0;
  // Whether attention runs with this K/V pair at this head size; the error says what works.
  virtual Status check_kv_types(quant::Type k_type, quant::Type v_type, int head_dim) const = 0;

  // ---- memory -------------------------------------------------------------------------
  // `what` names the allocation in the error ("KV cache of layer 3").
  virtual Result<std::unique_ptr<DeviceBuffer>> allocate(size_t bytes, std::string_view what) = 0;
  // Makes a weight tensor (bytes in host memory, e.g. a GGUF mmap that outlives the backend's
  // use of it) usable by the ops. The CPU backend uses the bytes in place (zero-copy); a
  // device backend copies them to its memory and keeps them until it is destroyed.
  virtual Result<WeightView> load_weight(quant::Type type, std::span<const uint8_t> bytes, int64_t n_cols,
                                         int64_t n_rows) = 0;
  virtual Status write(void* device_dst, const void* host_src, size_t bytes) = 0;
  virtual Status read(void* host_dst, const void* device_src, size_t bytes) = 0;
  virtual Status copy(void* device_dst, const void* device_src, size_t bytes) = 0;

  // The caller is about to wait on something other than this backend (a worker's reply over
  // the network): a backend whose idle threads poll for work lets them sleep now, so they do
  // not take a core from the process computing meanwhile. The next op wakes them.
  virtual void release_idle_threads() {}

  // ---- the ops of a layer --------------------------------------------------------------
  // out row t = row ids[t] of the table, dequantized to f32.
  virtual Status get_rows(const WeightView& table, std::span<const int32_t> ids, float* out) = 0;
  // y = x / sqrt(mean(x^2) + eps) * w (w an F32 vector of n), y may equal x.
  virtual Status rms_norm(const float* x, const WeightView& w, float* y, int64_t n_tokens, int64_t n,
                          float eps) = 0;
  // y[t * y_stride + r] = dot(W row r, x row t) for r < w.n_rows; x rows are w.n_cols long.
  virtual Status matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride) = 0;
  // One product of matmul_group: y[t * y_stride + r] = dot(W row r, x row t).
  struct Product {
    const WeightView* w = nullptr;
    float* y = nullptr;
    int64_t y_stride = 0;
  };
  // Several matmuls of the same x (q, k and v; gate and up), with results identical to one
  // matmul() per product. A backend may prepare x once and run every product in one go (the
  // CPU wakes its threads once instead of once per weight).
  virtual Status matmul_group(std::span<const Product> products, const float* x, int64_t n_tokens) {
    for (const Product& p : products) STRATA_TRY(matmul(*p.w, x, n_tokens, p.y, p.y_stride));
    return {};
  }
  // x[t * x_stride + i] += bias[i] (bias an F32 vector of n); x_stride 0 means n.
  virtual Status add_bias(float* x, const WeightView& bias, int64_t n_tokens, int64_t n, int64_t x_stride = 0) = 0;
  virtual Result<std::unique_ptr<RopeAngles>> create_rope(const RopeParams& params) = 0;
  // Rotates n_head heads of each token in place; rows x_stride floats apart (0: packed).
  virtual Status rope(float* x, int64_t n_tokens, int64_t n_head, const RopeAngles& angles,
                      int64_t x_stride = 0) = 0;
  // Converts n_rows rows of row_elems floats (src rows src_stride floats apart, 0: packed) to
  // `type` rows at dst + r * dst_stride bytes: the KV cache write.
  virtual Status write_kv(quant::Type type, const float* src, int64_t n_rows, int64_t row_elems, void* dst,
                          size_t dst_stride, int64_t src_stride = 0) = 0;
  virtual Status attention(const AttentionCall& call) = 0;
  // out = silu(gate) * up; out may equal gate or up.
  virtual Status swiglu(const float* gate, const float* up, float* out, int64_t n_tokens, int64_t n) = 0;
  // out = a + b; out may equal a or b.
  virtual Status add(const float* a, const float* b, float* out, int64_t n_tokens, int64_t n) = 0;
};

}  // namespace strata::backend
