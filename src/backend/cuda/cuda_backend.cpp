// CudaBackend: argument checks on the host (the same rules and messages as the CPU backend),
// then the kernels of backend/cuda enqueued on one stream. Host metadata (token ids,
// positions) travels through a pinned staging ring, so no op waits for the GPU.
#include "backend/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "backend/cuda/kernels.h"
#include "backend/cuda/step_graph.h"
#include "quant/type.h"

namespace strata::backend::cuda {

static_assert(kF32 == static_cast<uint32_t>(quant::Type::F32) && kF16 == static_cast<uint32_t>(quant::Type::F16) &&
              kBF16 == static_cast<uint32_t>(quant::Type::BF16) && kQ4_0 == static_cast<uint32_t>(quant::Type::Q4_0) &&
              kQ4_1 == static_cast<uint32_t>(quant::Type::Q4_1) && kQ5_0 == static_cast<uint32_t>(quant::Type::Q5_0) &&
              kQ5_1 == static_cast<uint32_t>(quant::Type::Q5_1) && kQ8_0 == static_cast<uint32_t>(quant::Type::Q8_0) &&
              kQ2_K == static_cast<uint32_t>(quant::Type::Q2_K) && kQ3_K == static_cast<uint32_t>(quant::Type::Q3_K) &&
              kQ4_K == static_cast<uint32_t>(quant::Type::Q4_K) && kQ5_K == static_cast<uint32_t>(quant::Type::Q5_K) &&
              kQ6_K == static_cast<uint32_t>(quant::Type::Q6_K) &&
              kIQ4_NL == static_cast<uint32_t>(quant::Type::IQ4_NL) &&
              kIQ4_XS == static_cast<uint32_t>(quant::Type::IQ4_XS));

namespace {

using quant::Type;

constexpr std::array kWeightTypes = {Type::F32,  Type::F16,  Type::BF16, Type::Q4_0, Type::Q4_1,
                                     Type::Q5_0, Type::Q5_1, Type::Q8_0, Type::Q2_K, Type::Q3_K,
                                     Type::Q4_K, Type::Q5_K, Type::Q6_K, Type::IQ4_NL, Type::IQ4_XS};
constexpr std::array kKvTypes = {Type::F32,  Type::F16,  Type::BF16, Type::Q8_0,  Type::Q5_1,
                                 Type::Q5_0, Type::Q4_1, Type::Q4_0, Type::IQ4_NL};
constexpr std::array kHeadDims = {64, 80, 96, 112, 128, 256};

// Op tags: the first word of an op's graph signature.
enum OpTag : uint64_t {
  kTagGetRows = 1, kTagRmsNorm, kTagMatvecQ8, kTagMatvec, kTagAddBias, kTagRopeTable, kTagRope, kTagWriteKv,
  kTagAttention, kTagSwiglu, kTagAdd, kTagCopy, kTagQuantize,
};

// Argument `i` of a signature (word 0 is the tag), as the type it was added as.
template <typename T>
T arg(const OpSignature& sig, size_t i) {
  T value;
  std::memcpy(&value, &sig.words[i], sizeof(T));
  return value;
}

bool is(const OpSignature& sig, OpTag tag) { return sig.n > 0 && sig.words[0] == tag; }

// The decode attention's signature holds its whole launch, so the fuser can rebuild it.
OpSignature attention_signature(const AttentionLaunch& a) {
  OpSignature sig;
  sig.add(kTagAttention).add(a.q).add(a.q_stride).add(a.pos).add(a.n_tokens).add(a.k_type).add(a.k).add(a.k_stride);
  sig.add(a.k_head_bytes).add(a.v_type).add(a.v).add(a.v_stride).add(a.v_head_bytes).add(a.k_aligned);
  sig.add(a.v_aligned).add(a.n_head).add(a.n_head_kv).add(a.head_dim).add(a.scale).add(a.out).add(a.out_stride);
  sig.add(a.kv_extent).add(a.n_splits).add(a.partials).add(a.plain);
  return sig;
}
constexpr size_t kAttentionWords = 25;

AttentionLaunch attention_of(const OpSignature& sig) {
  AttentionLaunch a;
  size_t w = 1;
  const auto next = [&]<typename T>(T& field) { field = arg<T>(sig, w++); };
  next(a.q), next(a.q_stride), next(a.pos), next(a.n_tokens), next(a.k_type), next(a.k), next(a.k_stride);
  next(a.k_head_bytes), next(a.v_type), next(a.v), next(a.v_stride), next(a.v_head_bytes), next(a.k_aligned);
  next(a.v_aligned), next(a.n_head), next(a.n_head_kv), next(a.head_dim), next(a.scale), next(a.out);
  next(a.out_stride), next(a.kv_extent), next(a.n_splits), next(a.partials), next(a.plain);
  return a;
}

// Whether decode-step graphs do RoPE and the K/V writes in one launch (STRATA_CUDA_FUSE_ROPE_KV=0:
// no, for comparisons).
bool fuse_rope_kv() {
  static const bool enabled = [] {
    const char* env = std::getenv("STRATA_CUDA_FUSE_ROPE_KV");
    return env == nullptr || std::string(env) != "0";
  }();
  return enabled;
}

// write_kv [type, src, n_rows, row_elems, src_stride, dst_stride, dst or dst_ref, is_ref]
KvWriteJob kv_job_of(const OpSignature& w) {
  KvWriteJob j;
  j.type = arg<uint32_t>(w, 1);
  j.src = arg<const float*>(w, 2);
  j.n_rows = arg<int64_t>(w, 3);
  j.row_elems = arg<int64_t>(w, 4);
  j.src_stride = arg<int64_t>(w, 5);
  j.dst_stride = arg<size_t>(w, 6);
  if (arg<bool>(w, 8)) {
    j.dst_ref = arg<const uint64_t*>(w, 7);
  } else {
    j.dst = arg<void*>(w, 7);
  }
  return j;
}

// Whether the float ranges [a, a + n) and [b, b + m) do not overlap.
bool apart(const float* a, int64_t n, const float* b, int64_t m) { return a + n <= b || b + m <= a; }

// Whether decode-step graphs merge matvecs on the same input (STRATA_CUDA_FUSE_MATVEC=0: no,
// for comparisons).
bool fuse_matvecs() {
  static const bool enabled = [] {
    const char* env = std::getenv("STRATA_CUDA_FUSE_MATVEC");
    return env == nullptr || std::string(env) != "0";
  }();
  return enabled;
}

// The fuser of decode-step graphs: add + rms_norm + quantize, rms_norm + quantize and
// swiglu + quantize become one kernel each (fused.cu), where the quantization reads exactly
// what the op before it wrote. Signature layouts: see the ops below.
void fuse_step(const std::vector<OpSignature>& sigs, std::vector<StepGraph::Launch>& launches) {
  const size_t n = sigs.size();
  for (size_t i = 0; i + 1 < n; ++i) {
    const OpSignature& s0 = sigs[i];
    // add [a, b, out, count], rms_norm [x, w, y, n_tokens, n, eps], quantize [x, n_tokens, K, scratch]
    const bool add_first = is(s0, kTagAdd) && i + 2 < n && is(sigs[i + 1], kTagRmsNorm);
    const OpSignature& norm = add_first ? sigs[i + 1] : s0;
    if (is(norm, kTagRmsNorm)) {
      const size_t qi = add_first ? i + 2 : i + 1;
      const OpSignature& q = sigs[qi];
      const auto x = arg<const float*>(norm, 1);
      const auto w = arg<const float*>(norm, 2);
      const auto y = arg<float*>(norm, 3);
      const auto tokens = arg<int64_t>(norm, 4);
      const auto width = arg<int64_t>(norm, 5);
      const auto eps = arg<float>(norm, 6);
      if (!is(q, kTagQuantize) || arg<const float*>(q, 1) != y || arg<int64_t>(q, 2) != tokens ||
          arg<int64_t>(q, 3) != width || width % 32 != 0 || tokens > kMaxDecodeTokens) {
        continue;
      }
      const float* a = nullptr;
      const float* b = nullptr;
      if (add_first) {
        if (arg<const float*>(s0, 3) != x || arg<int64_t>(s0, 4) != tokens * width) continue;
        a = arg<const float*>(s0, 1);
        b = arg<const float*>(s0, 2);
      }
      auto* xw = const_cast<float*>(x);
      void* scratch = arg<void*>(q, 4);
      launches[i] = [=](cudaStream_t st) {
        return launch_add_norm_quantize(a, b, xw, w, y, tokens, width, eps, scratch, st);
      };
      for (size_t k = i + 1; k <= qi; ++k) launches[k] = nullptr;
      i = qi;
      continue;
    }
    // rope [x, n_tokens, n_head, head_dim, half, neox, table, x_stride] of q, then of k with
    // the same tokens, head size and table: one launch.
    if (is(s0, kTagRope) && is(sigs[i + 1], kTagRope)) {
      const OpSignature& r1 = sigs[i + 1];
      bool same = true;
      for (size_t w = 2; w <= 7; ++w) same = same && (w == 3 || r1.words[w] == s0.words[w]);
      if (same) {
        const auto x = arg<float*>(s0, 1), y = arg<float*>(r1, 1);
        const auto tokens = arg<int64_t>(s0, 2);
        const auto heads_x = arg<int64_t>(s0, 3), heads_y = arg<int64_t>(r1, 3);
        const auto head_dim = arg<int64_t>(s0, 4);
        const auto half = arg<int64_t>(s0, 5);
        const auto neox = arg<bool>(s0, 6);
        const auto table = arg<const float2*>(s0, 7);
        const auto x_stride = arg<int64_t>(s0, 8), y_stride = arg<int64_t>(r1, 8);
        // Distinct heads (one launch rotates them in no particular order).
        const bool disjoint = x + (tokens - 1) * x_stride + heads_x * head_dim <= y ||
                              y + (tokens - 1) * y_stride + heads_y * head_dim <= x;
        // Then K's rows (all of k, one per token) and V's written: RoPE and writes in one launch
        // (k's buffer then keeps its unrotated values: those writes are its only reader in a step).
        const bool then_kv = i + 3 < n && is(sigs[i + 2], kTagWriteKv) && is(sigs[i + 3], kTagWriteKv);
        if (disjoint && then_kv && fuse_rope_kv()) {
          const KvWriteJob k = kv_job_of(sigs[i + 2]), v = kv_job_of(sigs[i + 3]);
          const int64_t q_len = (tokens - 1) * x_stride + heads_x * head_dim;
          const int64_t v_len = (v.n_rows - 1) * v.src_stride + v.row_elems;
          if (k.src == y && k.n_rows == tokens && k.src_stride == y_stride && k.row_elems == heads_y * head_dim &&
              apart(x, q_len, v.src, v_len)) {
            const KvRope rope{table, head_dim, half, neox};
            launches[i] = [=](cudaStream_t st) { return launch_rope_write_kv(x, heads_x, x_stride, rope, k, v, st); };
            for (size_t k2 = i + 1; k2 <= i + 3; ++k2) launches[k2] = nullptr;
            i += 3;
            continue;
          }
        }
        if (disjoint) {
          launches[i] = [=](cudaStream_t st) {
            return launch_rope_pair(x, heads_x, x_stride, y, heads_y, y_stride, tokens, head_dim, half, neox, table,
                                    st);
          };
          launches[i + 1] = nullptr;
          ++i;
          continue;
        }
      }
    }
    // matvec_q8 [type, w, row_bytes, rows, K, n_tokens, y, y_stride, scratch] of up to three
    // matrices of one type on the same quantized x in a row (q, k, v; gate, up): one launch.
    if (is(s0, kTagMatvecQ8) && fuse_matvecs()) {
      const auto same_input = [&](const OpSignature& b) {
        return is(b, kTagMatvecQ8) && b.words[1] == s0.words[1] && b.words[5] == s0.words[5] &&
               b.words[6] == s0.words[6] && b.words[9] == s0.words[9];
      };
      const auto tokens = arg<int64_t>(s0, 6);
      const auto out_end = [&](const OpSignature& b) {
        return arg<float*>(b, 7) + (tokens - 1) * arg<int64_t>(b, 8) + arg<int64_t>(b, 4);
      };
      size_t count = 1;
      while (count < kMaxMatvecParts && i + count < n && same_input(sigs[i + count])) {
        // Outputs must not overlap (one launch writes them in no particular order).
        const OpSignature& b = sigs[i + count];
        bool disjoint = true;
        for (size_t k = 0; k < count; ++k) {
          const OpSignature& a = sigs[i + k];
          disjoint = disjoint && (out_end(a) <= arg<float*>(b, 7) || out_end(b) <= arg<float*>(a, 7));
        }
        if (!disjoint) break;
        ++count;
      }
      if (count > 1) {
        std::array<MatvecPart, kMaxMatvecParts> parts{};
        for (size_t k = 0; k < count; ++k) {
          const OpSignature& b = sigs[i + k];
          parts[k] = {arg<const void*>(b, 2), arg<size_t>(b, 3), arg<int64_t>(b, 4), arg<float*>(b, 7),
                      arg<int64_t>(b, 8)};
        }
        const auto type = arg<uint32_t>(s0, 1);
        const auto K = arg<int64_t>(s0, 5);
        const auto* scratch = arg<const void*>(s0, 9);
        const int n_parts = static_cast<int>(count);
        launches[i] = [=](cudaStream_t st) {
          return launch_matvec_q8_parts(type, parts.data(), n_parts, K, tokens, scratch, st);
        };
        for (size_t k = 1; k < count; ++k) launches[i + k] = nullptr;
        i += count - 1;
        continue;
      }
    }
    // write_kv [type, src, n_rows, row_elems, src_stride, dst_stride, dst or dst_ref, is_ref]
    // of K, then of V: one launch (they write different caches).
    if (is(s0, kTagWriteKv) && is(sigs[i + 1], kTagWriteKv)) {
      const KvWriteJob k = kv_job_of(s0), v = kv_job_of(sigs[i + 1]);
      launches[i] = [=](cudaStream_t st) { return launch_write_kv_pair(k, v, st); };
      launches[i + 1] = nullptr;
      ++i;
      continue;
    }
    // attention [attention_signature], quantize [x, n_tokens, K, scratch]: the kernel that
    // writes the output quantizes it.
    if (is(s0, kTagAttention) && s0.n == kAttentionWords && is(sigs[i + 1], kTagQuantize)) {
      const OpSignature& q = sigs[i + 1];
      AttentionLaunch a = attention_of(s0);
      const auto tokens = arg<int64_t>(q, 2);
      const auto width = arg<int64_t>(q, 3);
      if (arg<const float*>(q, 1) == a.out && tokens == a.n_tokens && tokens <= kMaxDecodeTokens &&
          width == int64_t{a.n_head} * a.head_dim && a.out_stride == width && a.head_dim % 32 == 0) {
        split_scratch(arg<void*>(q, 4), tokens * (width / 32), a.out_q, a.out_qds);
        launches[i] = [a](cudaStream_t st) { return launch_attention(a, st); };
        launches[i + 1] = nullptr;
        ++i;
        continue;
      }
    }
    // swiglu [gate, up, out, count], quantize [x, n_tokens, K, scratch]
    if (is(s0, kTagSwiglu) && is(sigs[i + 1], kTagQuantize)) {
      const OpSignature& q = sigs[i + 1];
      const auto gate = arg<const float*>(s0, 1);
      const auto up = arg<const float*>(s0, 2);
      const auto out = arg<float*>(s0, 3);
      const auto tokens = arg<int64_t>(q, 2);
      const auto width = arg<int64_t>(q, 3);
      if (arg<const float*>(q, 1) != out || arg<int64_t>(s0, 4) != tokens * width || width % 32 != 0 ||
          tokens > kMaxDecodeTokens) {
        continue;
      }
      void* scratch = arg<void*>(q, 4);
      launches[i] = [=](cudaStream_t st) { return launch_swiglu_quantize(gate, up, out, tokens, width, scratch, st); };
      launches[i + 1] = nullptr;
      ++i;
    }
  }
}

// How much of the next matvec's weights a decode-step graph pulls into L2 while the short
// kernels before that matvec run (see plan_l2_prefetch): STRATA_CUDA_L2_PREFETCH_MB overrides
// the default, 0 turns it off; STRATA_CUDA_L2_PREFETCH_BULK=1 asks for sm_90 bulk prefetches;
// STRATA_CUDA_L2_PREFETCH_CHAIN=1 puts the prefetch kernel in the step's chain instead of on a
// side branch. Read when a backend is made. Off by default: on a side branch every size was
// slower on the H100 (docs/benchmarks.md); the in-chain form is not measured yet.
constexpr size_t kDefaultL2PrefetchMiB = 0;
size_t l2_prefetch_bytes() {
  const char* env = std::getenv("STRATA_CUDA_L2_PREFETCH_MB");
  const long mb = env != nullptr ? std::atol(env) : static_cast<long>(kDefaultL2PrefetchMiB);
  return mb > 0 && mb <= 1024 ? static_cast<size_t>(mb) << 20 : size_t{0};
}
bool l2_prefetch_bulk() {
  const char* env = std::getenv("STRATA_CUDA_L2_PREFETCH_BULK");
  return env != nullptr && std::string(env) == "1";
}
bool l2_prefetch_in_chain() {
  const char* env = std::getenv("STRATA_CUDA_L2_PREFETCH_CHAIN");
  return env != nullptr && std::string(env) == "1";
}

// For each matvec launch of a step that follows short kernels (norms, RoPE and K/V writes,
// attention, SwiGLU), the first bytes of its weights -- what its first wave of blocks reads --
// are prefetched into L2 on a branch that forks after the launch before those short kernels
// (the previous matvec, or the step's first launch). The short kernels leave the memory bus
// idle; the matvec then starts on weights already in L2. matvec and matvec_q8 signatures both
// begin [type, w, row_bytes, rows]; a fused launch's parts are the null launches after it.
void plan_l2_prefetch(size_t budget, const std::vector<OpSignature>& sigs,
                      const std::vector<StepGraph::Launch>& launches, std::vector<std::vector<L2Range>>& after) {
  if (budget == 0) return;
  const auto is_matvec = [](const OpSignature& s) { return is(s, kTagMatvecQ8) || is(s, kTagMatvec); };
  const size_t n = sigs.size();
  size_t fork = n;         // the launch the next branch forks after
  bool short_kernels = false;  // whether a launch other than a matvec ran since `fork`
  for (size_t i = 0; i < n; ++i) {
    if (!launches[i]) continue;
    if (!is_matvec(sigs[i])) {
      if (fork == n) fork = i;  // the step's first launch
      if (i != fork) short_kernels = true;
      continue;
    }
    if (fork != n && short_kernels) {
      size_t left = budget;
      for (size_t j = i; j < n && left > 0 && (j == i || !launches[j]) && is_matvec(sigs[j]); ++j) {
        const auto* w = arg<const void*>(sigs[j], 2);
        const size_t bytes = arg<size_t>(sigs[j], 3) * static_cast<size_t>(arg<int64_t>(sigs[j], 4));
        const size_t take = bytes < left ? bytes : left;
        after[fork].push_back({w, take});
        left -= take;
      }
    }
    fork = i;
    short_kernels = false;
  }
}

// Dequantized weight rows of the cuBLAS path are produced in chunks of at most this size.
constexpr size_t kDequantChunkBytes = size_t{128} << 20;
constexpr int kStagingSlots = 128;
constexpr size_t kStagingSlotBytes = size_t{64} << 10;

bool is_weight_type(Type t) { return std::find(kWeightTypes.begin(), kWeightTypes.end(), t) != kWeightTypes.end(); }
bool is_kv_type(Type t) { return std::find(kKvTypes.begin(), kKvTypes.end(), t) != kKvTypes.end(); }
bool is_float_type(Type t) { return t == Type::F32 || t == Type::F16 || t == Type::BF16; }

std::string describe(cudaError_t e) { return fmt::format("{} ({})", cudaGetErrorString(e), cudaGetErrorName(e)); }

std::string mib(size_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

template <typename Types>
std::string type_list(const Types& types) {
  std::string out;
  for (Type t : types) {
    if (!out.empty()) out += ", ";
    out += quant::type_name(t);
  }
  return out;
}

std::string kv_types_for(int head_dim) {
  std::string out;
  for (Type t : kKvTypes) {
    if (head_dim % static_cast<int>(quant::type_info(t).block_size) != 0) continue;
    if (!out.empty()) out += ", ";
    out += quant::type_name(t);
  }
  return out;
}

Status launch_status(std::string_view op, cudaError_t e, std::string_view shape) {
  if (e == cudaSuccess) return {};
  return internal_error("cuda {} ({}): kernel launch failed: {}", op, shape, describe(e));
}

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

Status check_vector(std::string_view op, const WeightView& w, int64_t n) {
  if (w.type != Type::F32 || w.data == nullptr || w.n_cols != n) {
    return invalid_argument("{}: expected an f32 vector of {} values, got {} of {} values{}", op, n,
                            quant::type_name(w.type), w.n_cols, w.data == nullptr ? " (no data)" : "");
  }
  return {};
}

// Makes `device` current for the calling thread while an op runs (one process may drive
// several GPUs, one backend each).
Status use_device(int device) {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == device) return {};
  const cudaError_t e = cudaSetDevice(device);
  if (e != cudaSuccess) return unavailable("cuda: cannot select GPU {}: {}", device, describe(e));
  return {};
}

class CudaBuffer final : public DeviceBuffer {
 public:
  CudaBuffer(int device, void* data, size_t size) : device_(device), data_(data), size_(size) {}
  ~CudaBuffer() override {
    if (data_ != nullptr && use_device(device_).ok()) cudaFree(data_);
  }
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;
  void* data() override { return data_; }
  size_t size() const override { return size_; }

 private:
  int device_;
  void* data_;
  size_t size_;
};

}  // namespace

// ---- Impl: handles, scratch, staging -------------------------------------------------------

struct CudaBackend::Impl {
  int device = 0;
  int n_sms = 1;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  std::vector<void*> weights;

  // Grow-only device scratch; a replaced allocation may still be read by queued kernels,
  // so it is freed only after the next synchronisation.
  struct Scratch {
    void* ptr = nullptr;
    size_t bytes = 0;
  };
  Scratch activations16;  // x rounded to f16 / bf16 for cuBLAS
  Scratch weights16;      // a chunk of dequantized weight rows
  Scratch partials;       // attention split partials
  Scratch big_upload;     // metadata larger than a staging slot
  std::vector<void*> retired;

  uint8_t* pinned = nullptr;
  uint8_t* ring = nullptr;
  std::array<cudaEvent_t, kStagingSlots> events{};
  std::array<bool, kStagingSlots> recorded{};
  int next_slot = 0;
  int last_slot = -1;

  std::unique_ptr<StepGraph> graph;  // decode steps as CUDA graphs

  // The activations last quantized for the int8 matvec, valid while no other op ran since
  // (graph->submitted() == quant_serial): q, k, v (and gate, up) share one quantization.
  const float* quant_x = nullptr;
  int64_t quant_tokens = 0;
  int64_t quant_k = 0;
  const void* quant_scratch = nullptr;
  uint64_t quant_serial = 0;

  ~Impl() {
    if (use_device(device).ok()) {
      if (graph != nullptr) (void)graph->flush();
      if (stream != nullptr) cudaStreamSynchronize(stream);
      for (void* p : weights) cudaFree(p);
      for (void* p : retired) cudaFree(p);
      for (Scratch* s : {&activations16, &weights16, &partials, &big_upload}) {
        if (s->ptr != nullptr) cudaFree(s->ptr);
      }
      for (cudaEvent_t e : events) {
        if (e != nullptr) cudaEventDestroy(e);
      }
      if (ring != nullptr) cudaFree(ring);
      if (pinned != nullptr) cudaFreeHost(pinned);
      if (cublas != nullptr) cublasDestroy(cublas);
      if (stream != nullptr) cudaStreamDestroy(stream);
    }
  }

  Result<void*> ensure(Scratch& s, size_t bytes, std::string_view what) {
    if (bytes <= s.bytes) return s.ptr;
    const size_t want = std::max(bytes, s.bytes + s.bytes / 2);
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, want);
    if (e != cudaSuccess && want > bytes) {
      cudaGetLastError();
      e = cudaMalloc(&p, bytes);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();  // clear the sticky-free allocation error
      return resource_exhausted("cuda: cannot allocate {} ({} bytes) of GPU memory for {}: {}", mib(bytes), bytes,
                                what, describe(e));
    }
    if (s.ptr != nullptr) retired.push_back(s.ptr);
    s.ptr = p;
    s.bytes = std::max(want, bytes);
    return p;
  }

  Status sync(std::string_view op) {
    Status flushed = graph->flush();
    const cudaError_t e = cudaStreamSynchronize(stream);
    graph->drained();
    if (!flushed.ok()) return flushed.with_context(op);
    if (e != cudaSuccess) return internal_error("cuda {}: the GPU reported an error: {}", op, describe(e));
    for (void* p : retired) cudaFree(p);
    retired.clear();
    return {};
  }
};

// ---- RoPE angles ------------------------------------------------------------------------------

namespace {

class CudaRopeAngles final : public RopeAngles {
 public:
  CudaRopeAngles(CudaBackend& backend, CudaBackend::Impl& impl, RopeParams params, float theta_scale,
                 float* freq_factors)
      : backend_(backend), impl_(impl), params_(std::move(params)), theta_scale_(theta_scale),
        freq_factors_(freq_factors) {}
  ~CudaRopeAngles() override {
    if (use_device(impl_.device).ok()) {
      (void)impl_.sync("rope angles release");
      if (freq_factors_ != nullptr) cudaFree(freq_factors_);
      if (table_.ptr != nullptr) cudaFree(table_.ptr);
    }
  }
  CudaRopeAngles(const CudaRopeAngles&) = delete;
  CudaRopeAngles& operator=(const CudaRopeAngles&) = delete;

  Status set_positions(std::span<const int32_t> positions) override {
    const auto n = static_cast<int64_t>(positions.size());
    for (int64_t t = 0; t < n; ++t) {
      if (positions[static_cast<size_t>(t)] < 0) {
        return invalid_argument("rope: position {} of token {} is negative; positions start at 0",
                                positions[static_cast<size_t>(t)], t);
      }
    }
    n_tokens_ = n;
    if (n == 0) return {};
    STRATA_TRY(use_device(impl_.device));
    const int64_t half = params_.rope_dim / 2;
    STRATA_ASSIGN_OR_RETURN(void* table, impl_.ensure(table_, static_cast<size_t>(n * half) * sizeof(float) * 2,
                                                      "the rope angle table"));
    impl_.graph->maybe_open(n);
    STRATA_ASSIGN_OR_RETURN(const int32_t* pos, backend_.upload(positions, "rope"));
    const float theta_scale = theta_scale_, freq_scale = params_.freq_scale;
    const float* factors = freq_factors_;
    auto* out = static_cast<float2*>(table);
    OpSignature sig;
    sig.add(kTagRopeTable).add(pos).add(n).add(half).add(theta_scale).add(freq_scale).add(factors).add(out);
    return launch_status("rope", impl_.graph->submit("rope table", sig, [=](cudaStream_t s) {
      return launch_rope_table(pos, n, half, theta_scale, freq_scale, factors, out, s);
    }), fmt::format("{} tokens x {} pairs", n, half));
  }

  const RopeParams& params() const { return params_; }
  int64_t n_tokens() const { return n_tokens_; }
  const float2* table() const { return static_cast<const float2*>(table_.ptr); }

 private:
  CudaBackend& backend_;
  CudaBackend::Impl& impl_;
  RopeParams params_;
  float theta_scale_;
  float* freq_factors_;
  CudaBackend::Impl::Scratch table_;
  int64_t n_tokens_ = 0;
};

bool finite_positive(float v) { return std::isfinite(v) && v > 0.0f; }

}  // namespace

// ---- construction -------------------------------------------------------------------------------

CudaBackend::CudaBackend(int device, std::unique_ptr<Impl> impl) : device_(device), impl_(std::move(impl)) {}
CudaBackend::~CudaBackend() = default;

Result<std::unique_ptr<CudaBackend>> CudaBackend::create(int device) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return unavailable("cuda: no usable CUDA device or driver: {}", describe(e));
  }
  if (device < 0 || device >= count) {
    std::string names;
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp p{};
      if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
      names += fmt::format("{}cuda:{} {}", names.empty() ? "" : ", ", i, p.name);
    }
    return invalid_argument("cuda: device {} does not exist; this machine has {} CUDA device{}{}{}", device, count,
                            count == 1 ? "" : "s", count > 0 ? ": " : "", names);
  }
  cudaDeviceProp prop{};
  e = cudaGetDeviceProperties(&prop, device);
  if (e != cudaSuccess) return unavailable("cuda: cannot query GPU {}: {}", device, describe(e));
  if (prop.major < 8) {
    return unsupported("cuda: GPU {} ({}) has compute capability {}.{}; strata's CUDA kernels need 8.0 or newer "
                       "(A100, RTX 30xx, H100 and later)",
                       device, prop.name, prop.major, prop.minor);
  }
  STRATA_TRY(use_device(device));
  auto impl = std::make_unique<Impl>();
  impl->device = device;
  impl->n_sms = std::max(1, prop.multiProcessorCount);
  e = cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking);
  if (e != cudaSuccess) return unavailable("cuda: cannot create a stream on GPU {}: {}", device, describe(e));
  const cublasStatus_t cs = cublasCreate(&impl->cublas);
  if (cs != CUBLAS_STATUS_SUCCESS) {
    return unavailable("cuda: cannot initialise cuBLAS on GPU {}: {}", device, cublasGetStatusString(cs));
  }
  cublasSetStream(impl->cublas, impl->stream);
  e = cudaMallocHost(reinterpret_cast<void**>(&impl->pinned), kStagingSlots * kStagingSlotBytes);
  if (e == cudaSuccess) e = cudaMalloc(reinterpret_cast<void**>(&impl->ring), kStagingSlots * kStagingSlotBytes);
  for (int i = 0; e == cudaSuccess && i < kStagingSlots; ++i) {
    e = cudaEventCreateWithFlags(&impl->events[static_cast<size_t>(i)], cudaEventDisableTiming);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    return resource_exhausted("cuda: cannot allocate the {} staging ring on GPU {}: {}",
                              mib(kStagingSlots * kStagingSlotBytes), device, describe(e));
  }

  auto graph = StepGraph::create(impl->stream);
  if (!graph.ok()) return graph.status();
  impl->graph = std::move(*graph);
  impl->graph->set_fuser(fuse_step);
  if (const size_t budget = l2_prefetch_bytes(); budget > 0) {
    impl->graph->set_prefetch_planner(
        [budget](const std::vector<OpSignature>& sigs, const std::vector<StepGraph::Launch>& launches,
                 std::vector<std::vector<L2Range>>& after) { plan_l2_prefetch(budget, sigs, launches, after); },
        l2_prefetch_bulk(), l2_prefetch_in_chain());
  }

  auto backend = std::unique_ptr<CudaBackend>(new CudaBackend(device, std::move(impl)));
  Capabilities& caps = backend->caps_;
  caps.name = "cuda";
  caps.device = fmt::format("cuda:{} {} (sm_{}{}, {} SMs, {:.1f} GiB)", device, prop.name, prop.major, prop.minor,
                            prop.multiProcessorCount, static_cast<double>(prop.totalGlobalMem) / (1u << 30));
  caps.weight_types.assign(kWeightTypes.begin(), kWeightTypes.end());
  caps.kv_types.assign(kKvTypes.begin(), kKvTypes.end());
  caps.head_dims.assign(kHeadDims.begin(), kHeadDims.end());
  caps.memory_bytes = prop.totalGlobalMem;
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) caps.free_memory_bytes = free_bytes;
  return backend;
}

// ---- capabilities -----------------------------------------------------------------------------

Status CudaBackend::check_weight_type(std::string_view tensor, Type type) const {
  if (is_weight_type(type)) return {};
  return unsupported("tensor '{}' has type {}, which the CUDA backend cannot multiply; supported weight types: {}",
                     tensor, quant::type_name(type), type_list(kWeightTypes));
}

Status CudaBackend::check_kv_types(Type k_type, Type v_type, int head_dim) const {
  if (std::find(kHeadDims.begin(), kHeadDims.end(), head_dim) == kHeadDims.end()) {
    return unsupported("CUDA attention: head dim {} is not supported; supported head dims: 64, 80, 96, 112, 128, 256",
                       head_dim);
  }
  for (const auto& [which, type] : {std::pair{"K", k_type}, std::pair{"V", v_type}}) {
    if (!is_kv_type(type) || head_dim % static_cast<int>(quant::type_info(type).block_size) != 0) {
      return unsupported("{} cache type {} cannot hold heads of {} values; types that work at head dim {}: {}", which,
                         quant::type_name(type), head_dim, head_dim, kv_types_for(head_dim));
    }
  }
  return {};
}

// ---- memory -----------------------------------------------------------------------------------

Result<std::unique_ptr<DeviceBuffer>> CudaBackend::allocate(size_t bytes, std::string_view what) {
  STRATA_TRY(use_device(device_));
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes == 0 ? 256 : bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    return resource_exhausted("cuda: cannot allocate {} ({} bytes) for {} on GPU {}: {} ({} free of {})", mib(bytes),
                              bytes, what, device_, describe(e), mib(free_bytes), mib(total_bytes));
  }
  return std::unique_ptr<DeviceBuffer>(new CudaBuffer(device_, p, bytes));
}

Result<WeightView> CudaBackend::load_weight(Type type, std::span<const uint8_t> bytes, int64_t n_cols,
                                            int64_t n_rows) {
  if (n_cols <= 0 || n_rows <= 0) {
    return invalid_argument("load_weight: shape [{}, {}] must be positive", n_cols, n_rows);
  }
  STRATA_ASSIGN_OR_RETURN(const uint64_t row_bytes, quant::row_bytes(type, static_cast<uint64_t>(n_cols)));
  if (bytes.size() / row_bytes < static_cast<uint64_t>(n_rows)) {
    return invalid_argument("load_weight: {} bytes hold fewer than {} rows of {} {} values", bytes.size(), n_rows,
                            n_cols, quant::type_name(type));
  }
  const size_t total = static_cast<size_t>(row_bytes) * static_cast<size_t>(n_rows);
  STRATA_TRY(use_device(device_));
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, total);
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    return resource_exhausted("cuda: cannot allocate {} for a [{}, {}] {} weight on GPU {}: {} ({} free of {})",
                              mib(total), n_cols, n_rows, quant::type_name(type), device_, describe(e),
                              mib(free_bytes), mib(total_bytes));
  }
  impl_->weights.push_back(p);
  // Loading is not an op of a step: wait, so the caller may unmap the source afterwards.
  STRATA_TRY(impl_->graph->flush());
  e = cudaMemcpyAsync(p, bytes.data(), total, cudaMemcpyHostToDevice, impl_->stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(impl_->stream);
  if (e == cudaSuccess) impl_->graph->drained();
  if (e != cudaSuccess) {
    return internal_error("cuda: copying a {} weight of {} to GPU {} failed: {}", quant::type_name(type), mib(total),
                          device_, describe(e));
  }
  return WeightView{type, p, n_cols, n_rows, static_cast<size_t>(row_bytes)};
}

Status CudaBackend::write(void* device_dst, const void* host_src, size_t bytes) {
  if (bytes == 0) return {};
  if (device_dst == nullptr || host_src == nullptr) return invalid_argument("write: null pointer for {} bytes", bytes);
  STRATA_TRY(use_device(device_));
  // The source is any host memory, read now: the step's ops so far go first. The copy is
  // ordered before the ops after it on the stream, so it does not keep the next decode step
  // from running as a graph (a stage's input arriving from the CPU or another GPU).
  STRATA_TRY(impl_->graph->flush());
  impl_->quant_x = nullptr;
  const cudaError_t e = cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, impl_->stream);
  if (e != cudaSuccess) return internal_error("cuda write of {} bytes to the GPU failed: {}", bytes, describe(e));
  return {};
}

Status CudaBackend::read(void* host_dst, const void* device_src, size_t bytes) {
  if (bytes == 0) return synchronize("read");
  if (host_dst == nullptr || device_src == nullptr) return invalid_argument("read: null pointer for {} bytes", bytes);
  STRATA_TRY(use_device(device_));
  STRATA_TRY(impl_->graph->flush());
  const cudaError_t e = cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, impl_->stream);
  if (e != cudaSuccess) return internal_error("cuda read of {} bytes from the GPU failed: {}", bytes, describe(e));
  return synchronize("read");
}

Status CudaBackend::copy(void* device_dst, const void* device_src, size_t bytes) {
  if (bytes == 0) return {};
  if (device_dst == nullptr || device_src == nullptr) return invalid_argument("copy: null pointer for {} bytes", bytes);
  STRATA_TRY(use_device(device_));
  OpSignature sig;
  sig.add(kTagCopy).add(device_dst).add(device_src).add(bytes);
  const cudaError_t e = impl_->graph->submit("copy", sig, [=](cudaStream_t s) {
    return cudaMemcpyAsync(device_dst, device_src, bytes, cudaMemcpyDeviceToDevice, s);
  });
  if (e != cudaSuccess) return internal_error("cuda copy of {} bytes on the GPU failed: {}", bytes, describe(e));
  return {};
}

Status CudaBackend::synchronize(std::string_view op) {
  STRATA_TRY(use_device(device_));
  return impl_->sync(op);
}

CudaBackend::StepCounts CudaBackend::step_counts() const {
  const StepGraph::Stats& s = impl_->graph->stats();
  return {s.replayed, s.captured, s.eager};
}

Result<CudaBackend::MemoryInfo> CudaBackend::memory_info() const {
  STRATA_TRY(use_device(device_));
  MemoryInfo info;
  const cudaError_t e = cudaMemGetInfo(&info.free_bytes, &info.total_bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return internal_error("cuda: cudaMemGetInfo on GPU {} failed: {}", device_, describe(e));
  }
  return info;
}

Result<const int32_t*> CudaBackend::upload(std::span<const int32_t> values, std::string_view op) {
  Impl& m = *impl_;
  const size_t bytes = values.size_bytes();
  if (m.graph->in_step()) {
    auto staged = m.graph->stage(values.data(), bytes);
    if (!staged.ok()) return staged.status().with_context(op);
    return static_cast<const int32_t*>(*staged);
  }
  m.graph->enqueued_outside();
  if (bytes > kStagingSlotBytes) {
    STRATA_ASSIGN_OR_RETURN(void* dst, m.ensure(m.big_upload, bytes, fmt::format("{} metadata", op)));
    const cudaError_t e = cudaMemcpyAsync(dst, values.data(), bytes, cudaMemcpyHostToDevice, m.stream);
    if (e != cudaSuccess) return internal_error("cuda {}: uploading {} bytes failed: {}", op, bytes, describe(e));
    return static_cast<const int32_t*>(dst);
  }
  // The previous slot's readers are all enqueued by now: mark when they are done.
  if (m.last_slot >= 0) {
    const auto last = static_cast<size_t>(m.last_slot);
    if (cudaEventRecord(m.events[last], m.stream) == cudaSuccess) m.recorded[last] = true;
  }
  const auto slot = static_cast<size_t>(m.next_slot);
  m.next_slot = (m.next_slot + 1) % kStagingSlots;
  if (m.recorded[slot]) {
    const cudaError_t e = cudaEventSynchronize(m.events[slot]);
    if (e != cudaSuccess) return internal_error("cuda {}: the GPU reported an error: {}", op, describe(e));
  }
  uint8_t* host = m.pinned + slot * kStagingSlotBytes;
  uint8_t* dev = m.ring + slot * kStagingSlotBytes;
  if (bytes > 0) std::memcpy(host, values.data(), bytes);
  const cudaError_t e = cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, m.stream);
  if (e != cudaSuccess) return internal_error("cuda {}: uploading {} bytes failed: {}", op, bytes, describe(e));
  m.last_slot = static_cast<int>(slot);
  return reinterpret_cast<const int32_t*>(dev);
}

// ---- ops --------------------------------------------------------------------------------------

Status CudaBackend::get_rows(const WeightView& table, std::span<const int32_t> ids, float* out) {
  if (!is_weight_type(table.type)) {
    return unsupported("get_rows: embedding rows of type {} cannot be read on the GPU; supported types: {}",
                       quant::type_name(table.type), type_list(kWeightTypes));
  }
  const auto n_ids = static_cast<int64_t>(ids.size());
  STRATA_TRY(check_shape("get_rows", n_ids, table.n_cols));
  if (table.n_cols % 8 != 0) {
    return unsupported("get_rows: rows of {} values; the CUDA backend needs a multiple of 8", table.n_cols);
  }
  auto row = quant::row_bytes(table.type, static_cast<uint64_t>(table.n_cols));
  if (!row.ok()) return row.status().with_context("get_rows");
  if (table.row_bytes < *row) {
    return invalid_argument("get_rows: row stride of {} bytes is shorter than a row of {} {} values ({} bytes)",
                            table.row_bytes, table.n_cols, quant::type_name(table.type), *row);
  }
  if (n_ids == 0) return {};
  if (table.data == nullptr || out == nullptr) return invalid_argument("get_rows: null buffer for {} tokens", n_ids);
  for (int64_t t = 0; t < n_ids; ++t) {
    const int32_t id = ids[static_cast<size_t>(t)];
    if (id < 0 || id >= table.n_rows) {
      return invalid_argument("get_rows: token id {} at position {} is outside the vocabulary of {} tokens "
                              "(valid ids: 0 to {})",
                              id, t, table.n_rows, table.n_rows - 1);
    }
  }
  STRATA_TRY(use_device(device_));
  impl_->graph->maybe_open(n_ids);
  STRATA_ASSIGN_OR_RETURN(const int32_t* dev_ids, upload(ids, "get_rows"));
  const auto type = static_cast<uint32_t>(table.type);
  const void* data = table.data;
  const size_t row_bytes = table.row_bytes;
  const int64_t n_cols = table.n_cols;
  OpSignature sig;
  sig.add(kTagGetRows).add(type).add(data).add(row_bytes).add(n_cols).add(dev_ids).add(n_ids).add(out);
  return launch_status("get_rows", impl_->graph->submit("get_rows", sig, [=](cudaStream_t s) {
    return launch_get_rows(type, data, row_bytes, n_cols, dev_ids, n_ids, out, s);
  }), fmt::format("{} rows of {} {}", n_ids, table.n_cols, quant::type_name(table.type)));
}

Status CudaBackend::rms_norm(const float* x, const WeightView& w, float* y, int64_t n_tokens, int64_t n, float eps) {
  STRATA_TRY(check_vector("rms_norm", w, n));
  STRATA_TRY(check_shape("rms_norm", n_tokens, n));
  if (!std::isfinite(eps) || eps < 0.0f) {
    return invalid_argument("rms_norm: epsilon {} must be finite and >= 0 (models use 1e-5 or 1e-6)", eps);
  }
  if (n_tokens == 0) return {};
  if (x == nullptr || y == nullptr) return invalid_argument("rms_norm: null buffer passed for {} tokens", n_tokens);
  STRATA_TRY(use_device(device_));
  impl_->graph->maybe_open(n_tokens);
  const float* wf = w.floats();
  OpSignature sig;
  sig.add(kTagRmsNorm).add(x).add(wf).add(y).add(n_tokens).add(n).add(eps);
  return launch_status("rms_norm", impl_->graph->submit("rms_norm", sig, [=](cudaStream_t s) {
    return launch_rms_norm(x, wf, y, n_tokens, n, eps, s);
  }),
                       fmt::format("{} x {}", n_tokens, n));
}

Status CudaBackend::matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride) {
  STRATA_TRY(check_weight_type("matmul weight", w.type));
  const int64_t K = w.n_cols;
  const int64_t rows = w.n_rows;
  const auto shape = [&] {
    return fmt::format("[{}, {}] {} x {} tokens", K, rows, quant::type_name(w.type), n_tokens);
  };
  if (K <= 0 || rows <= 0 || n_tokens < 0) return invalid_argument("matmul: invalid shape {}", shape());
  auto row = quant::row_bytes(w.type, static_cast<uint64_t>(K));
  if (!row.ok()) return row.status().with_context("matmul");
  if (w.row_bytes < *row) {
    return invalid_argument("matmul: weight rows of {} bytes are shorter than {} {} values ({} bytes)", w.row_bytes, K,
                            quant::type_name(w.type), *row);
  }
  if (K % 8 != 0) return unsupported("matmul: rows of {} values; the CUDA backend needs a multiple of 8", K);
  if (y_stride < rows) {
    return invalid_argument("matmul: output stride {} is smaller than the {} output rows", y_stride, rows);
  }
  const int64_t kIntMax = std::numeric_limits<int32_t>::max();
  if (K > kIntMax || rows > kIntMax || n_tokens > kIntMax || y_stride > kIntMax) {
    return invalid_argument("matmul: {} is larger than one call handles (2^31 per dimension)", shape());
  }
  if (n_tokens == 0) return {};
  if (w.data == nullptr || x == nullptr || y == nullptr) return invalid_argument("matmul: null buffer for {}", shape());
  STRATA_TRY(use_device(device_));
  Impl& m = *impl_;
  const auto type = static_cast<uint32_t>(w.type);
  m.graph->maybe_open(n_tokens);
  const void* wd = w.data;
  const size_t row_bytes = w.row_bytes;
  if (n_tokens <= kMaxDecodeTokens && matvec_q8_supported(type)) {
    STRATA_ASSIGN_OR_RETURN(void* scratch, m.ensure(m.activations16, matvec_q8_scratch_bytes(n_tokens, K),
                                                    "quantized matmul activations"));
    const bool quantized = m.quant_x == x && m.quant_tokens == n_tokens && m.quant_k == K &&
                           m.quant_scratch == scratch && m.quant_serial == m.graph->submitted();
    if (!quantized) {
      OpSignature qsig;
      qsig.add(kTagQuantize).add(x).add(n_tokens).add(K).add(scratch);
      STRATA_TRY(launch_status("matmul", m.graph->submit("quantize activations", qsig, [=](cudaStream_t s) {
        return launch_quantize_activations(x, n_tokens, K, scratch, s);
      }), shape()));
    }
    OpSignature sig;
    sig.add(kTagMatvecQ8).add(type).add(wd).add(row_bytes).add(rows).add(K).add(n_tokens).add(y);
    sig.add(y_stride).add(scratch);
    const Status st = launch_status("matmul", m.graph->submit("matmul", sig, [=](cudaStream_t s) {
      return launch_matvec_q8(type, wd, row_bytes, rows, K, n_tokens, y, y_stride, scratch, s);
    }), shape());
    // The next matmul may skip quantizing x unless this one wrote over it.
    const auto* y_end = y + (n_tokens - 1) * y_stride + rows;
    const bool overlaps = y < x + n_tokens * K && x < y_end;
    m.quant_x = st.ok() && !overlaps ? x : nullptr;
    m.quant_tokens = n_tokens;
    m.quant_k = K;
    m.quant_scratch = scratch;
    m.quant_serial = m.graph->submitted();
    return st;
  }
  if (n_tokens <= kMaxDecodeTokens) {
    OpSignature sig;
    sig.add(kTagMatvec).add(type).add(wd).add(row_bytes).add(rows).add(K).add(x).add(n_tokens).add(y).add(y_stride);
    return launch_status("matmul", m.graph->submit("matmul", sig, [=](cudaStream_t s) {
      return launch_matvec(type, wd, row_bytes, rows, K, x, n_tokens, y, y_stride, s);
    }), shape());
  }
  // cuBLAS runs outside graphs: what the step collected so far goes first.
  STRATA_TRY(m.graph->flush());
  m.quant_x = nullptr;
  m.graph->enqueued_outside();

  const float one = 1.0f, zero = 0.0f;
  const auto gemm_status = [&](cublasStatus_t s) -> Status {
    if (s == CUBLAS_STATUS_SUCCESS) return {};
    return internal_error("cuda matmul ({}): cuBLAS failed: {}", shape(), cublasGetStatusString(s));
  };
  if (w.type == Type::F32) {
    return gemm_status(cublasSgemm(m.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows),
                                   static_cast<int>(n_tokens), static_cast<int>(K), &one, w.floats(),
                                   static_cast<int>(w.row_bytes / sizeof(float)), x, static_cast<int>(K), &zero, y,
                                   static_cast<int>(y_stride)));
  }
  // Activations rounded as the CPU rounds them for f16 / bf16 weights; f16 for the rest.
  const bool bf16 = w.type == Type::BF16;
  const cudaDataType_t dtype = bf16 ? CUDA_R_16BF : CUDA_R_16F;
  const size_t act_bytes = static_cast<size_t>(n_tokens) * static_cast<size_t>(K) * 2;
  STRATA_ASSIGN_OR_RETURN(void* x16, m.ensure(m.activations16, act_bytes, "matmul activations"));
  STRATA_TRY(launch_status("matmul", launch_round_activations(x, n_tokens * K, bf16, x16, m.stream), shape()));
  const auto gemm = [&](const void* a, int64_t lda, int64_t r0, int64_t n) {
    return gemm_status(cublasGemmEx(m.cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n),
                                    static_cast<int>(n_tokens), static_cast<int>(K), &one, a, dtype,
                                    static_cast<int>(lda), x16, dtype, static_cast<int>(K), &zero, y + r0, CUDA_R_32F,
                                    static_cast<int>(y_stride), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  };
  if (w.type == Type::F16 || bf16) return gemm(w.data, static_cast<int64_t>(w.row_bytes / 2), 0, rows);

  const int64_t chunk =
      std::min<int64_t>(rows, std::max<int64_t>(256, static_cast<int64_t>(kDequantChunkBytes / (K * 2))));
  STRATA_ASSIGN_OR_RETURN(void* w16, m.ensure(m.weights16, static_cast<size_t>(chunk * K * 2),
                                              "dequantized weight rows"));
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t n = std::min(chunk, rows - r0);
    STRATA_TRY(launch_status("matmul",
                             launch_dequantize_f16(type, static_cast<const uint8_t*>(w.data) + r0 * w.row_bytes,
                                                   w.row_bytes, n, K, w16, m.stream),
                             shape()));
    STRATA_TRY(gemm(w16, K, r0, n));
  }
  return {};
}

Status CudaBackend::add_bias(float* x, const WeightView& bias, int64_t n_tokens, int64_t n, int64_t x_stride) {
  STRATA_TRY(check_vector("add_bias", bias, n));
  STRATA_TRY(check_shape("add_bias", n_tokens, n));
  if (x_stride == 0) x_stride = n;
  if (x_stride < n) {
    return invalid_argument("add_bias: row stride {} is shorter than the row length {}; use 0 or a stride >= {}",
                            x_stride, n, n);
  }
  if (n_tokens == 0) return {};
  if (x == nullptr) return invalid_argument("add_bias: null buffer passed for {} tokens", n_tokens);
  STRATA_TRY(use_device(device_));
  impl_->graph->maybe_open(n_tokens);
  const float* bf = bias.floats();
  OpSignature sig;
  sig.add(kTagAddBias).add(x).add(bf).add(n_tokens).add(n).add(x_stride);
  return launch_status("add_bias", impl_->graph->submit("add_bias", sig, [=](cudaStream_t s) {
    return launch_add_bias(x, bf, n_tokens, n, x_stride, s);
  }),
                       fmt::format("{} x {}", n_tokens, n));
}

Result<std::unique_ptr<RopeAngles>> CudaBackend::create_rope(const RopeParams& params) {
  RopeParams p = params;
  if (p.head_dim <= 0) return invalid_argument("rope: head dim {} must be > 0", p.head_dim);
  if (p.rope_dim == 0) p.rope_dim = p.head_dim;
  if (p.rope_dim < 0 || p.rope_dim % 2 != 0 || p.rope_dim > p.head_dim) {
    return invalid_argument("rope: rotated dims {} must be even, > 0 and at most the head dim {}", p.rope_dim,
                            p.head_dim);
  }
  if (!finite_positive(p.freq_base)) {
    return invalid_argument("rope: freq_base {} must be finite and > 0 (llama uses 10000, llama 3 500000)",
                            p.freq_base);
  }
  if (!finite_positive(p.freq_scale)) {
    return invalid_argument("rope: freq_scale {} must be finite and > 0 (1 means no scaling)", p.freq_scale);
  }
  const int64_t half = p.rope_dim / 2;
  if (!p.freq_factors.empty()) {
    if (static_cast<int64_t>(p.freq_factors.size()) != half) {
      return invalid_argument("rope: {} frequency factors given; {} rotated dims need {} (one per pair)",
                              p.freq_factors.size(), p.rope_dim, half);
    }
    for (size_t i = 0; i < p.freq_factors.size(); ++i) {
      if (!finite_positive(p.freq_factors[i])) {
        return invalid_argument("rope: frequency factor {} is {}; factors must be finite and > 0", i,
                                p.freq_factors[i]);
      }
    }
  }
  // The same float expression as the CPU table, so both start from the same ratio.
  const float theta_scale = std::pow(p.freq_base, -2.0f / static_cast<float>(p.rope_dim));
  STRATA_TRY(use_device(device_));
  float* factors = nullptr;
  if (!p.freq_factors.empty()) {
    const size_t bytes = p.freq_factors.size() * sizeof(float);
    cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&factors), bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return resource_exhausted("cuda: cannot allocate {} bytes for rope frequency factors: {}", bytes, describe(e));
    }
    e = cudaMemcpy(factors, p.freq_factors.data(), bytes, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
      cudaFree(factors);
      return internal_error("cuda: copying rope frequency factors failed: {}", describe(e));
    }
  }
  return std::unique_ptr<RopeAngles>(new CudaRopeAngles(*this, *impl_, std::move(p), theta_scale, factors));
}

Status CudaBackend::rope(float* x, int64_t n_tokens, int64_t n_head, const RopeAngles& angles, int64_t x_stride) {
  const auto* a = dynamic_cast<const CudaRopeAngles*>(&angles);
  if (a == nullptr) return invalid_argument("rope: the angles were made by another backend");
  if (n_tokens != a->n_tokens()) {
    return invalid_argument("rope: {} tokens given but the table holds positions for {}; call set_positions with "
                            "one position per token",
                            n_tokens, a->n_tokens());
  }
  const int64_t head_dim = a->params().head_dim;
  if (n_head <= 0 || n_head > std::numeric_limits<int32_t>::max() / head_dim) {
    return invalid_argument("rope: head count {} must be > 0 (head dim {})", n_head, head_dim);
  }
  const int64_t row = n_head * head_dim;
  if (x_stride == 0) x_stride = row;
  if (x_stride < row) {
    return invalid_argument("rope: row stride {} is shorter than {} heads of {} values; use 0 or a stride >= {}",
                            x_stride, n_head, head_dim, row);
  }
  if (n_tokens == 0) return {};
  if (x == nullptr) return invalid_argument("rope: null buffer passed for {} tokens", n_tokens);
  STRATA_TRY(use_device(device_));
  const int64_t half = a->params().rope_dim / 2;
  impl_->graph->maybe_open(n_tokens);
  const bool neox = a->params().mode == RopeMode::kNeox;
  const float2* table = a->table();
  OpSignature sig;
  sig.add(kTagRope).add(x).add(n_tokens).add(n_head).add(head_dim).add(half).add(neox).add(table).add(x_stride);
  return launch_status("rope", impl_->graph->submit("rope", sig, [=](cudaStream_t s) {
    return launch_rope(x, n_tokens, n_head, head_dim, half, neox, table, x_stride, s);
  }),
                       fmt::format("{} tokens x {} heads", n_tokens, n_head));
}

Status CudaBackend::write_kv(Type type, const float* src, int64_t n_rows, int64_t row_elems, void* dst,
                             size_t dst_stride, int64_t src_stride) {
  if (!is_kv_type(type)) {
    return invalid_argument("write KV rows of type {}: not a KV cache type; use one of: {}", quant::type_name(type),
                            type_list(kKvTypes));
  }
  const uint32_t block = quant::type_info(type).block_size;
  if (n_rows < 0 || row_elems < 0 || row_elems % block != 0) {
    return invalid_argument("write {} KV rows: {} rows of {} elements; rows must hold a non-negative multiple of {}",
                            quant::type_name(type), n_rows, row_elems, block);
  }
  if (n_rows == 0 || row_elems == 0) return {};
  if (src == nullptr || dst == nullptr) {
    return invalid_argument("write {} KV rows: null buffer for {} rows", quant::type_name(type), n_rows);
  }
  if (src_stride == 0) src_stride = row_elems;
  if (src_stride < row_elems) {
    return invalid_argument("write {} KV rows: source stride {} is shorter than a row of {} values",
                            quant::type_name(type), src_stride, row_elems);
  }
  const uint64_t row_bytes = quant::row_bytes(type, static_cast<uint64_t>(row_elems)).value();
  if (n_rows > 1 && dst_stride < row_bytes) {
    return invalid_argument("write {} KV rows: row stride {} bytes is shorter than a row of {} elements ({} bytes)",
                            quant::type_name(type), dst_stride, row_elems, row_bytes);
  }
  STRATA_TRY(use_device(device_));
  StepGraph& g = *impl_->graph;
  g.maybe_open(n_rows);
  const auto tid = static_cast<uint32_t>(type);
  OpSignature sig;
  sig.add(kTagWriteKv).add(tid).add(src).add(n_rows).add(row_elems).add(src_stride).add(dst_stride);
  void* dst_now = dst;
  const uint64_t* dst_ref = nullptr;
  if (g.in_step()) {
    // The cell moves every decode step: the kernel reads its address from the staged metadata,
    // so the step's graph stays the same.
    const auto address = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(dst));
    auto staged = g.stage(&address, sizeof(address));
    if (!staged.ok()) return staged.status().with_context("write_kv");
    dst_ref = static_cast<const uint64_t*>(*staged);
    dst_now = nullptr;
    sig.add(dst_ref).add(true);
  } else {
    sig.add(dst).add(false);
  }
  return launch_status("write_kv", g.submit("write_kv", sig, [=](cudaStream_t s) {
    return launch_write_kv(tid, src, n_rows, row_elems, src_stride, dst_now, dst_ref, dst_stride, s);
  }),
                       fmt::format("{} rows of {} {}", n_rows, row_elems, quant::type_name(type)));
}

Status CudaBackend::attention(const AttentionCall& call) {
  STRATA_TRY(check_kv_types(call.k_type, call.v_type, call.head_dim));
  if (call.n_head <= 0 || call.n_head_kv <= 0 || call.n_head % call.n_head_kv != 0) {
    return invalid_argument("attention: {} query heads cannot share {} kv heads; n_head must be a positive multiple "
                            "of n_head_kv",
                            call.n_head, call.n_head_kv);
  }
  if (call.n_head_kv > 65535) return invalid_argument("attention: {} kv heads; at most 65535", call.n_head_kv);
  if (call.n_kv < 1 || call.n_kv > std::numeric_limits<int32_t>::max()) {
    return invalid_argument("attention: {} filled KV cells; need between 1 and {} (a token attends at least its "
                            "own cell)",
                            call.n_kv, std::numeric_limits<int32_t>::max());
  }
  if (!std::isfinite(call.scale)) return invalid_argument("attention: scale {} is not finite", call.scale);
  const int64_t width = static_cast<int64_t>(call.n_head) * call.head_dim;
  if (call.q_stride != 0 && call.q_stride < width) {
    return invalid_argument("attention: query stride {} floats is shorter than {} heads x {}", call.q_stride,
                            call.n_head, call.head_dim);
  }
  if (call.out_stride != 0 && call.out_stride < width) {
    return invalid_argument("attention: output stride {} floats is shorter than {} heads x {}", call.out_stride,
                            call.n_head, call.head_dim);
  }
  const uint64_t k_head = quant::row_bytes(call.k_type, static_cast<uint64_t>(call.head_dim)).value();
  const uint64_t v_head = quant::row_bytes(call.v_type, static_cast<uint64_t>(call.head_dim)).value();
  const uint64_t k_row = k_head * static_cast<uint64_t>(call.n_head_kv);
  const uint64_t v_row = v_head * static_cast<uint64_t>(call.n_head_kv);
  if (call.n_kv > 1 && (call.k_stride < k_row || call.v_stride < v_row)) {
    return invalid_argument("attention: cell strides K {} / V {} bytes are shorter than the rows ({} x {} {} = {} "
                            "bytes, {} x {} {} = {} bytes)",
                            call.k_stride, call.v_stride, call.n_head_kv, call.head_dim,
                            quant::type_name(call.k_type), k_row, call.n_head_kv, call.head_dim,
                            quant::type_name(call.v_type), v_row);
  }
  const auto n_tokens = static_cast<int64_t>(call.positions.size());
  if (n_tokens == 0) return {};
  if (n_tokens * call.n_head > std::numeric_limits<int32_t>::max()) {
    return invalid_argument("attention: {} tokens x {} heads is more than one call handles", n_tokens, call.n_head);
  }
  if (call.q == nullptr || call.k == nullptr || call.v == nullptr || call.out == nullptr) {
    return invalid_argument("attention: null query, K, V or output pointer");
  }
  int64_t kv_extent = 0;
  for (int64_t t = 0; t < n_tokens; ++t) {
    const int32_t p = call.positions[static_cast<size_t>(t)];
    if (p < 0 || p >= call.n_kv) {
      return invalid_argument("attention: token {} is at cell {}, outside the {} filled cells (0..{})", t, p,
                              call.n_kv, call.n_kv - 1);
    }
    kv_extent = std::max<int64_t>(kv_extent, int64_t{p} + 1);
  }
  // The fast loaders need 16-byte aligned float rows and naturally aligned blocks (the
  // largest power of two dividing the block size); other caches take the byte loaders.
  const auto aligned = [](Type type, const void* base, size_t stride, uint64_t head) {
    const uint32_t block = quant::type_info(type).block_bytes;
    const size_t need = is_float_type(type) ? 16 : (block & (~block + 1));
    return (reinterpret_cast<uintptr_t>(base) | stride | head) % need == 0;
  };

  AttentionLaunch a;
  a.q = call.q;
  a.q_stride = call.q_stride != 0 ? call.q_stride : width;
  a.n_tokens = static_cast<int>(n_tokens);
  a.k_type = static_cast<uint32_t>(call.k_type);
  a.k = call.k;
  a.k_stride = call.k_stride;
  a.k_head_bytes = k_head;
  a.k_aligned = aligned(call.k_type, call.k, call.k_stride, k_head);
  a.v_type = static_cast<uint32_t>(call.v_type);
  a.v = call.v;
  a.v_stride = call.v_stride;
  a.v_head_bytes = v_head;
  a.v_aligned = aligned(call.v_type, call.v, call.v_stride, v_head);
  a.n_head = call.n_head;
  a.n_head_kv = call.n_head_kv;
  a.head_dim = call.head_dim;
  a.scale = call.scale;
  a.out = call.out;
  a.out_stride = call.out_stride != 0 ? call.out_stride : width;
  a.kv_extent = kv_extent;
  a.plain = !call.flash;
  Impl& m = *impl_;
  STRATA_TRY(use_device(device_));
  m.graph->maybe_open(n_tokens);
  if (m.graph->in_step()) {
    // A graph re-used across steps: the kernel takes the length from the staged positions,
    // and the split count follows the length rounded up to a power of two (>= 256 cells), so
    // it changes, and the graph with it, only a few times over a long generation.
    int64_t bucket = 256;
    while (bucket < kv_extent) bucket *= 2;
    a.kv_extent = bucket;
    a.n_splits = attention_splits(a, m.n_sms);
    a.kv_extent = 0;
  } else {
    a.n_splits = attention_splits(a, m.n_sms);
  }
  // Prefill batches go to the tensor cores; the plain path (-fa off) stays in f32.
  const bool mma = call.flash && attention_mma_eligible(a);
  if (mma) a.n_splits = attention_mma_splits(a, m.n_sms);
  if (a.n_splits > 1) {
    STRATA_ASSIGN_OR_RETURN(void* partials, m.ensure(m.partials, attention_partial_floats(a) * sizeof(float),
                                                     "attention partial results"));
    a.partials = static_cast<float*>(partials);
  }
  STRATA_ASSIGN_OR_RETURN(a.pos, upload(call.positions, "attention"));
  OpSignature sig = attention_signature(a);
  if (mma) sig.add(kTagAttention);  // another kernel: the signature differs (one word too long: not graphed)
  return launch_status("attention", m.graph->submit("attention", sig, [a, mma](cudaStream_t s) {
    return mma ? launch_attention_mma(a, s) : launch_attention(a, s);
  }),
                       fmt::format("{} tokens, {} heads of {}, {} cells, K {} V {}", n_tokens, call.n_head,
                                   call.head_dim, kv_extent, quant::type_name(call.k_type),
                                   quant::type_name(call.v_type)));
}

Status CudaBackend::swiglu(const float* gate, const float* up, float* out, int64_t n_tokens, int64_t n) {
  STRATA_TRY(check_shape("swiglu", n_tokens, n));
  if (n_tokens == 0) return {};
  if (gate == nullptr || up == nullptr || out == nullptr) {
    return invalid_argument("swiglu: null buffer passed for {} tokens", n_tokens);
  }
  STRATA_TRY(use_device(device_));
  impl_->graph->maybe_open(n_tokens);
  const int64_t count = n_tokens * n;
  OpSignature sig;
  sig.add(kTagSwiglu).add(gate).add(up).add(out).add(count);
  return launch_status("swiglu", impl_->graph->submit("swiglu", sig, [=](cudaStream_t s) {
    return launch_swiglu(gate, up, out, count, s);
  }),
                       fmt::format("{} x {}", n_tokens, n));
}

Status CudaBackend::add(const float* a, const float* b, float* out, int64_t n_tokens, int64_t n) {
  STRATA_TRY(check_shape("add", n_tokens, n));
  if (n_tokens == 0) return {};
  if (a == nullptr || b == nullptr || out == nullptr) {
    return invalid_argument("add: null buffer passed for {} tokens", n_tokens);
  }
  STRATA_TRY(use_device(device_));
  impl_->graph->maybe_open(n_tokens);
  const int64_t count = n_tokens * n;
  OpSignature sig;
  sig.add(kTagAdd).add(a).add(b).add(out).add(count);
  return launch_status("add", impl_->graph->submit("add", sig, [=](cudaStream_t s) {
    return launch_add(a, b, out, count, s);
  }), fmt::format("{} x {}", n_tokens, n));
}

}  // namespace strata::backend::cuda

namespace strata::backend {

Result<std::unique_ptr<Backend>> make_cuda_backend(int device) {
  STRATA_ASSIGN_OR_RETURN(auto backend, cuda::CudaBackend::create(device));
  return std::unique_ptr<Backend>(std::move(backend));
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

}  // namespace strata::backend
