// Launchers of the CUDA kernels, callable from plain C++ (no CUDA headers beyond the runtime
// types): CudaBackend checks arguments, then enqueues these on its stream. Each returns the
// launch's cudaError_t; none synchronizes with the host.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace strata::backend::cuda {

// ggml type ids (quant::Type values) as device code sees them; cuda_backend.cpp checks that
// they equal quant::Type's.
enum TypeId : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kIQ4_NL = 20, kIQ4_XS = 23, kBF16 = 30,
};

// Most tokens the matrix-vector (decode) kernels take; larger batches go to cuBLAS.
inline constexpr int kMaxDecodeTokens = 8;

// ---- element-wise and row ops (ops.cu) ----------------------------------------------------
cudaError_t launch_get_rows(uint32_t type, const void* table, size_t row_bytes, int64_t n_cols, const int32_t* ids,
                            int64_t n_ids, float* out, cudaStream_t stream);
cudaError_t launch_rms_norm(const float* x, const float* w, float* y, int64_t n_tokens, int64_t n, float eps,
                            cudaStream_t stream);
cudaError_t launch_add_bias(float* x, const float* bias, int64_t n_tokens, int64_t n, int64_t x_stride,
                            cudaStream_t stream);
cudaError_t launch_swiglu(const float* gate, const float* up, float* out, int64_t count, cudaStream_t stream);
cudaError_t launch_add(const float* a, const float* b, float* out, int64_t count, cudaStream_t stream);
// cos/sin of every (token, pair) of a batch: table[t * half + i] = (cos, sin) of the angle
// the CPU RopeTable computes (same float operations, CUDA's accurate sincosf).
cudaError_t launch_rope_table(const int32_t* pos, int64_t n_tokens, int64_t half, float theta_scale,
                              float freq_scale, const float* freq_factors, float2* table, cudaStream_t stream);
cudaError_t launch_rope(float* x, int64_t n_tokens, int64_t n_head, int64_t head_dim, int64_t half, bool neox,
                        const float2* table, int64_t x_stride, cudaStream_t stream);
// Rotates the heads of x and of y (q and k of a step, same tokens and table) in one launch.
cudaError_t launch_rope_pair(float* x, int64_t n_head_x, int64_t x_stride, float* y, int64_t n_head_y,
                             int64_t y_stride, int64_t n_tokens, int64_t head_dim, int64_t half, bool neox,
                             const float2* table, cudaStream_t stream);

// ---- matmul (matmul.cu) -------------------------------------------------------------------
// y[t * y_stride + r] = dot(W row r, x row t) for n_tokens <= kMaxDecodeTokens and f32, f16
// or bf16 weights: warps own rows and stream each weight byte once. K is a multiple of 8.
cudaError_t launch_matvec(uint32_t type, const void* w, size_t row_bytes, int64_t n_rows, int64_t K, const float* x,
                          int64_t n_tokens, float* y, int64_t y_stride, cudaStream_t stream);
// The same on integer dot products for the block types (matvec_q8_supported): x is first
// quantized to int8 per 32 values into scratch (matvec_q8_scratch_bytes) by
// launch_quantize_activations; several matrices that multiply the same x (q, k, v; gate, up)
// share one quantization.
bool matvec_q8_supported(uint32_t type);
size_t matvec_q8_scratch_bytes(int64_t n_tokens, int64_t K);
// The scratch layout: units * 32 int8 quants, then one float2 (d, d * sum) per unit on the
// next 16-byte boundary.
inline void split_scratch(void* scratch, int64_t units, int8_t*& xq, float2*& xds) {
  xq = static_cast<int8_t*>(scratch);
  xds = reinterpret_cast<float2*>(static_cast<uint8_t*>(scratch) + ((units * 32 + 15) / 16) * 16);
}
cudaError_t launch_quantize_activations(const float* x, int64_t n_tokens, int64_t K, void* scratch,
                                        cudaStream_t stream);
cudaError_t launch_matvec_q8(uint32_t type, const void* w, size_t row_bytes, int64_t n_rows, int64_t K,
                             int64_t n_tokens, float* y, int64_t y_stride, const void* scratch, cudaStream_t stream);
// Several matrices of one type and width K times the same quantized activations in one launch
// (a decode step's q, k, v or gate, up): part p writes y[t * y_stride + r] of its own.
inline constexpr int kMaxMatvecParts = 3;
struct MatvecPart {
  const void* w;
  size_t row_bytes;
  int64_t n_rows;
  float* y;
  int64_t y_stride;
};
cudaError_t launch_matvec_q8_parts(uint32_t type, const MatvecPart* parts, int n_parts, int64_t K, int64_t n_tokens,
                                   const void* scratch, cudaStream_t stream);
// Rows [0, n_rows) of W dequantized to f16 (out row r at out + r * K), for the cuBLAS path.
cudaError_t launch_dequantize_f16(uint32_t type, const void* w, size_t row_bytes, int64_t n_rows, int64_t K,
                                  void* out, cudaStream_t stream);
// f32 -> f16 (to_bf16 false) or bf16, count elements.
cudaError_t launch_round_activations(const float* x, int64_t count, bool to_bf16, void* out, cudaStream_t stream);

// ---- fused ops of decode-step graphs (fused.cu) ---------------------------------------------
// [x = a + b when a is not null,] y = rms_norm(x) * w, and y quantized into matvec scratch, as
// launch_add, launch_rms_norm and launch_quantize_activations would do one after another.
cudaError_t launch_add_norm_quantize(const float* a, const float* b, float* x, const float* w, float* y,
                                     int64_t n_tokens, int64_t n, float eps, void* scratch, cudaStream_t stream);
// out = silu(gate) * up, quantized into matvec scratch (n values per token, a multiple of 32).
cudaError_t launch_swiglu_quantize(const float* gate, const float* up, float* out, int64_t n_tokens, int64_t n,
                                   void* scratch, cudaStream_t stream);

// ---- L2 prefetch (l2_prefetch.cu) ----------------------------------------------------------
// Byte ranges of device memory pulled into L2 (nothing is read into registers or written):
// a decode-step graph runs this beside its short kernels for the next matvec's weights.
struct L2Range {
  const void* data = nullptr;
  size_t bytes = 0;
};
inline constexpr int kMaxL2Ranges = 4;
// bulk: whole 16 KB chunks as sm_90 bulk prefetches (the TMA unit), else 32-byte sector
// prefetches; the sm_80 build always uses sectors. in_chain: a dependent launch in the step's
// own chain (the kernels after it wait for it, it waits for the kernel before it), else a plain
// launch (on a side branch).
cudaError_t launch_l2_prefetch(const L2Range* ranges, int n_ranges, bool bulk, bool in_chain, cudaStream_t stream);

// ---- KV cache writes (kv_write.cu) --------------------------------------------------------
// Rows of f32 to a KV type with the bytes of quant::quantize_row. With dst_ref (device memory)
// the kernels read the destination address from there instead of dst, so a graph re-used
// across decode steps writes each step's cell.
cudaError_t launch_write_kv(uint32_t type, const float* src, int64_t n_rows, int64_t row_elems, int64_t src_stride,
                            void* dst, const uint64_t* dst_ref, size_t dst_stride, cudaStream_t stream);
// One write of launch_write_kv's arguments; two of them (a step's K and V) go in one launch.
struct KvWriteJob {
  uint32_t type = 0;
  const float* src = nullptr;
  int64_t n_rows = 0, row_elems = 0, src_stride = 0;
  void* dst = nullptr;
  const uint64_t* dst_ref = nullptr;
  size_t dst_stride = 0;
};
cudaError_t launch_write_kv_pair(const KvWriteJob& a, const KvWriteJob& b, cudaStream_t stream);
// The rotation launch_rope applies (table rows per token, `half` pairs of a head_dim head).
struct KvRope {
  const float2* table = nullptr;
  int64_t head_dim = 0, half = 0;
  bool neox = false;
};
// A decode step's RoPE and K/V writes as one launch: q (n_head_q heads a token, rows q_stride
// apart) rotated in place, k's rows (one per token) rotated on the fly as they are written
// (k's buffer keeps its unrotated values), and v's rows. Same bits as launch_rope_pair followed
// by launch_write_kv_pair.
cudaError_t launch_rope_write_kv(float* q, int64_t n_head_q, int64_t q_stride, const KvRope& rope, const KvWriteJob& k,
                                 const KvWriteJob& v, cudaStream_t stream);

// ---- attention (attention.cu) -------------------------------------------------------------
struct AttentionLaunch {
  const float* q = nullptr;
  int64_t q_stride = 0;       // floats
  const int32_t* pos = nullptr;  // device, n_tokens
  int n_tokens = 0;
  uint32_t k_type = kF16;
  const void* k = nullptr;
  size_t k_stride = 0;        // bytes between cells
  size_t k_head_bytes = 0;    // bytes of one head's slice
  uint32_t v_type = kF16;
  const void* v = nullptr;
  size_t v_stride = 0;
  size_t v_head_bytes = 0;
  bool k_aligned = true;      // every K element load is aligned to its size (f32/f16/bf16)
  bool v_aligned = true;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;
  float scale = 0.f;
  float* out = nullptr;
  int64_t out_stride = 0;     // floats
  int64_t kv_extent = 0;      // 1 + the largest position; 0: the kernel finds it in pos (graphs)
  int n_splits = 1;           // KV ranges computed apart, then combined
  float* partials = nullptr;  // n_splits * n_tokens * n_head * (head_dim + 2) floats when n_splits > 1
  // When set, the output is also quantized for the matvec that reads it (the o projection),
  // as launch_quantize_activations would: head_dim a multiple of 32, out_stride n_head *
  // head_dim. Decode kernel only (launch_attention), not the tensor-core one.
  int8_t* out_q = nullptr;
  float2* out_qds = nullptr;
  bool plain = false;         // -fa off: always the tiled kernel (for comparisons)
};

// Head dims the attention kernels are built for.
bool attention_head_dim_supported(int head_dim);
// f(std::integral_constant<int, D>{}) for D = head_dim, one of those dims; cudaErrorInvalidValue
// for any other: the one switch from a run-time head dim to the kernels' template parameter.
template <class F>
cudaError_t with_head_dim(int head_dim, F&& f) {
  switch (head_dim) {
    case 64: return f(std::integral_constant<int, 64>{});
    case 80: return f(std::integral_constant<int, 80>{});
    case 96: return f(std::integral_constant<int, 96>{});
    case 112: return f(std::integral_constant<int, 112>{});
    case 128: return f(std::integral_constant<int, 128>{});
    case 256: return f(std::integral_constant<int, 256>{});
    default: return cudaErrorInvalidValue;
  }
}
// Splits worth using for this shape on a device with n_sms multiprocessors.
int attention_splits(const AttentionLaunch& a, int n_sms);
size_t attention_partial_floats(const AttentionLaunch& a);
cudaError_t launch_attention(const AttentionLaunch& a, cudaStream_t stream);
// Sums the n_splits partial results of a split launch into a.out; at most kMaxAttentionSplits.
inline constexpr int kMaxAttentionSplits = 128;
cudaError_t launch_attention_combine(const AttentionLaunch& a, cudaStream_t stream);

// One-token flash attention (attention_decode.cu): warps walk their own cells, no tiles.
// launch_attention and attention_splits pick it for the launches it is eligible for.
bool attention_decode_eligible(const AttentionLaunch& a);
int attention_decode_splits(const AttentionLaunch& a, int n_sms);
cudaError_t launch_attention_decode(const AttentionLaunch& a, cudaStream_t stream);

// Tensor-core prefill attention (attention_mma.cu): batches of at least kMinMmaTokens tokens
// at head dims 64 to 128 with flash attention on; f16 operands, f32 accumulation.
inline constexpr int kMinMmaTokens = 16;
bool attention_mma_eligible(const AttentionLaunch& a);
int attention_mma_splits(const AttentionLaunch& a, int n_sms);
cudaError_t launch_attention_mma(const AttentionLaunch& a, cudaStream_t stream);

}  // namespace strata::backend::cuda
