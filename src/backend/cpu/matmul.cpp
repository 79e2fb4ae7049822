// matmul: argument checks, scratch buffers, activation preparation and the split of rows
// over threads; the arithmetic lives in the per-instruction-set kernels.
#include "backend/cpu/matmul.h"

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "backend/cpu/decode_prefetch.h"
#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/isa_kernels.h"

namespace strata::backend::cpu {
namespace {

constexpr size_t kAlign = 64;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// A 64-byte aligned byte buffer that only grows.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  bool reserve(size_t bytes) {
    if (bytes <= capacity_) return true;
    const size_t size = round_up(bytes, kAlign);
    void* p = std::aligned_alloc(kAlign, size);
    if (p == nullptr) return false;
    std::free(data_);
    data_ = static_cast<uint8_t*>(p);
    capacity_ = size;
    return true;
  }
  uint8_t* data() const { return data_; }
  size_t capacity() const { return capacity_; }

 private:
  uint8_t* data_ = nullptr;
  size_t capacity_ = 0;
};

const IsaKernels& kernels_for(Isa isa) {
  const IsaKernels* k = nullptr;
  if (isa == Isa::kAvx512) k = avx512_kernels();
  if (isa == Isa::kAvx2) k = avx2_kernels();
  return k != nullptr ? *k : scalar_kernels();
}

bool is_float_type(quant::Type type) {
  return type == quant::Type::F32 || type == quant::Type::F16 || type == quant::Type::BF16;
}

// Rows are handed out in chunks of whole 16-row units (a panel), "guided": each chunk is
// 1/(2 n_threads) of the rows still left, so the first chunks are long sequential streams
// for the hardware prefetcher and the last ones are small. A thread that the OS delays
// (other processes on a shared machine) or that was woken late then leaves the rest to the
// others, and the threads finish within one small chunk of each other. The smallest chunk
// holds about kMinChunkBytes of weights.
constexpr size_t kMinChunkBytes = size_t{32} << 10;

struct RowChunks {
  std::atomic<int64_t> next{0};
  int64_t n_rows = 0;
  int64_t min_rows = 16;
  int64_t divisor = 2;  // 2 * n_threads

  // Claims the next chunk; false when no rows are left.
  bool claim(int64_t& begin, int64_t& end) {
    int64_t b = next.load(std::memory_order_relaxed);
    int64_t size = 0;
    do {
      const int64_t left = n_rows - b;
      if (left <= 0) return false;
      size = (left / divisor + 15) / 16 * 16;
      if (size < min_rows) size = min_rows;
      if (size > left) size = left;
    } while (!next.compare_exchange_weak(b, b + size, std::memory_order_relaxed));
    begin = b;
    end = b + size;
    return true;
  }
};

// One weight of a call: its rows, where its products go, and the chunks its rows are handed
// out in. Aligned so threads claiming chunks of different weights do not share a cache line.
struct WeightRows {
  RowJob job;  // row range filled in per chunk
  alignas(64) RowChunks chunks;
};

// Everything a call's threads share; lambdas capture only a pointer to it, so building the
// std::function for the pool does not allocate.
struct CallContext {
  const IsaKernels* kernels;
  std::array<WeightRows, kMaxGroup> weights;
  size_t n_weights;
  size_t thread_scratch_bytes;
  uint8_t* thread_scratch;
  // Activation preparation, shared by every weight of the call.
  quant::Type prep_type;  // the weights' type (round_acts needs it)
  int64_t k;
  int64_t n_tokens;
  const float* x;
  ActMode mode;
  QuantActs acts;
  int8_t* qs;
  float* d32;
  float* s32;
  int32_t* neg_sum32;
  float* s16;
  int16_t* bsum16;
  int32_t* neg_sum16;
  float* xf;
};

void prepare_tokens(const CallContext& c, int64_t t0, int64_t t1) {
  const int64_t k = c.k;
  for (int64_t t = t0; t < t1; ++t) {
    const float* x = c.x + t * k;
    if (c.xf != nullptr) {
      c.kernels->round_acts(c.prep_type, x, c.xf + t * k, k);
    } else {
      const QuantActs& a = c.acts;
      const ActRowOut out{c.qs + t * a.qs_stride,        c.d32 + t * a.n32_stride, c.s32 + t * a.n32_stride,
                          c.neg_sum32 + t * a.n32_stride, c.s16 + t * a.n16_stride, c.bsum16 + t * a.n16_stride,
                          c.neg_sum16 + t * a.n16_stride};
      c.kernels->quantize_acts(x, k, c.mode, out);
    }
  }
}

constexpr const char* kSupportedTypes = "f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs";

}  // namespace

struct MatmulScratch::Buffers {
  AlignedBuffer acts;
  AlignedBuffer threads;
};

MatmulScratch::MatmulScratch() : buffers_(std::make_unique<Buffers>()) {}
MatmulScratch::~MatmulScratch() = default;
MatmulScratch::MatmulScratch(MatmulScratch&&) noexcept = default;
MatmulScratch& MatmulScratch::operator=(MatmulScratch&&) noexcept = default;

size_t MatmulScratch::bytes() const {
  return buffers_ ? buffers_->acts.capacity() + buffers_->threads.capacity() : 0;
}

bool can_matmul(quant::Type w_type) { return is_float_type(w_type) || quant_layout(w_type) != nullptr; }

namespace {

Status check_weight(const MatmulWeight& m, int64_t K, int64_t n_tokens) {
  if (!can_matmul(m.type)) {
    return unsupported("matmul with weight type {} (id {}) is not implemented on the CPU; supported: {}",
                       quant::type_name(m.type), static_cast<uint32_t>(m.type), kSupportedTypes);
  }
  const quant::TypeInfo& info = quant::type_info(m.type);
  if (K <= 0 || K % info.block_size != 0) {
    return invalid_argument("matmul: K = {} for {} weights; K must be a positive multiple of the block size {}", K,
                            info.name, info.block_size);
  }
  // Bounds that keep every size computation below far from overflow.
  constexpr int64_t kMaxDim = int64_t{1} << 40;
  if (m.n_rows < 0 || n_tokens < 0 || K > kMaxDim || m.n_rows > kMaxDim || n_tokens > kMaxDim / K) {
    return invalid_argument("matmul: sizes out of range (n_rows {}, K {}, n_tokens {})", m.n_rows, K, n_tokens);
  }
  const uint64_t need_row_bytes = static_cast<uint64_t>(K) / info.block_size * info.block_bytes;
  if (m.row_bytes < need_row_bytes) {
    return invalid_argument("matmul: weight rows of {} bytes are too short for {} {} values ({} bytes)", m.row_bytes,
                            K, info.name, need_row_bytes);
  }
  if (m.y_stride < m.n_rows) {
    return invalid_argument("matmul: y_stride {} is smaller than n_rows {}; it must be at least n_rows", m.y_stride,
                            m.n_rows);
  }
  return {};
}

// Weights whose activations are prepared the same way can share one preparation: integer
// formats by their activation mode, f16 / bf16 by the rounding, f32 not at all.
int preparation_key(quant::Type type) {
  if (const QuantLayout* layout = quant_layout(type)) return 16 + static_cast<int>(layout->act_mode);
  return static_cast<int>(type);
}

// weights: 1..kMaxGroup weights with the same preparation_key, checked, none empty.
Status run_group(std::span<const MatmulWeight* const> weights, int64_t K, const float* x, int64_t n_tokens,
                 ThreadPool& pool, MatmulScratch& scratch) {
  MatmulScratch::Buffers& buf = scratch.buffers();
  const size_t n_threads = pool.size();
  const quant::Type w_type = weights[0]->type;
  CallContext c{};
  c.kernels = &kernels_for(active_isa());
  c.n_weights = weights.size();
  c.prep_type = w_type;
  c.k = K;
  c.n_tokens = n_tokens;
  c.x = x;

  const auto k = static_cast<size_t>(K);
  const auto nt = static_cast<size_t>(n_tokens);
  size_t act_bytes = 0;
  const float* xf = nullptr;
  const QuantActs* acts = nullptr;
  const QuantLayout* layout = quant_layout(w_type);
  if (layout != nullptr) {
    c.mode = layout->act_mode;
    c.acts.qs_stride = static_cast<int64_t>(round_up(k, kAlign));
    c.acts.n32_stride = K / 32;
    c.acts.n16_stride = K / 16;
    const size_t qs_bytes = round_up(nt * static_cast<size_t>(c.acts.qs_stride), kAlign);
    const size_t f32_bytes = round_up(nt * (k / 32) * sizeof(float), kAlign);
    const size_t f16_bytes = round_up(nt * (k / 16) * sizeof(float), kAlign);
    const size_t i16_bytes = round_up(nt * (k / 16) * sizeof(int16_t), kAlign);
    act_bytes = qs_bytes + 3 * f32_bytes + 2 * f16_bytes + i16_bytes;
    if (!buf.acts.reserve(act_bytes)) {
      return resource_exhausted("matmul: cannot allocate {} bytes for {} quantized activations", act_bytes, nt * k);
    }
    uint8_t* p = buf.acts.data();
    c.qs = reinterpret_cast<int8_t*>(p);
    c.d32 = reinterpret_cast<float*>(p + qs_bytes);
    c.s32 = reinterpret_cast<float*>(p + qs_bytes + f32_bytes);
    c.neg_sum32 = reinterpret_cast<int32_t*>(p + qs_bytes + 2 * f32_bytes);
    c.s16 = reinterpret_cast<float*>(p + qs_bytes + 3 * f32_bytes);
    c.neg_sum16 = reinterpret_cast<int32_t*>(p + qs_bytes + 3 * f32_bytes + f16_bytes);
    c.bsum16 = reinterpret_cast<int16_t*>(p + qs_bytes + 3 * f32_bytes + 2 * f16_bytes);
    if (k % kAlign != 0) {
      // Padding between tokens is never read as data, but keep it defined.
      for (size_t t = 0; t < nt; ++t) std::memset(p + t * c.acts.qs_stride + k, 0, c.acts.qs_stride - k);
    }
    c.acts.qs = c.qs;
    c.acts.d32 = c.d32;
    c.acts.s32 = c.s32;
    c.acts.neg_sum32 = c.neg_sum32;
    c.acts.s16 = c.s16;
    c.acts.bsum16 = c.bsum16;
    c.acts.neg_sum16 = c.neg_sum16;
    acts = &c.acts;
  } else if (w_type == quant::Type::F32) {
    xf = x;
  } else {
    // f16 / bf16 weights multiply activations rounded to the weight's precision, as
    // llama.cpp does (it converts the activations to f16 / bf16 first), so logits match.
    act_bytes = round_up(nt * k * sizeof(float), kAlign);
    if (!buf.acts.reserve(act_bytes)) {
      return resource_exhausted("matmul: cannot allocate {} bytes for {} rounded activations", act_bytes, nt * k);
    }
    c.xf = reinterpret_cast<float*>(buf.acts.data());
    xf = c.xf;
  }

  for (size_t i = 0; i < weights.size(); ++i) {
    const MatmulWeight& m = *weights[i];
    WeightRows& wr = c.weights[i];
    wr.job.type = m.type;
    wr.job.w = static_cast<const uint8_t*>(m.w);
    wr.job.row_bytes = m.row_bytes;
    wr.job.k = K;
    wr.job.n_tokens = n_tokens;
    wr.job.y = m.y;
    wr.job.y_stride = m.y_stride;
    wr.job.acts = acts;
    wr.job.xf = xf;
    wr.job.xf_stride = K;
    wr.job.prefetch_ahead = decode_prefetch_bytes();
    wr.chunks.n_rows = m.n_rows;
    wr.chunks.divisor = 2 * static_cast<int64_t>(n_threads);
    wr.chunks.min_rows = static_cast<int64_t>(kMinChunkBytes / (16 * m.row_bytes) + 1) * 16;
  }

  c.thread_scratch_bytes = round_up(scratch_bytes_per_thread(K), kAlign);
  const size_t thread_bytes = c.thread_scratch_bytes * n_threads;
  if (!buf.threads.reserve(thread_bytes)) {
    return resource_exhausted("matmul: cannot allocate {} bytes of per-thread scratch ({} threads, K {})", thread_bytes,
                              n_threads, K);
  }
  c.thread_scratch = buf.threads.data();

  const bool prepare = w_type != quant::Type::F32;
  // Preparing one token costs about as much as waking the pool; split only real batches.
  if (prepare && n_tokens >= 4 && n_threads > 1) {
    const CallContext* ctx = &c;
    pool.run_on_all([ctx](size_t i, size_t n) {
      const int64_t t = ctx->n_tokens;
      prepare_tokens(*ctx, t * static_cast<int64_t>(i) / static_cast<int64_t>(n),
                     t * static_cast<int64_t>(i + 1) / static_cast<int64_t>(n));
    });
  } else if (prepare) {
    prepare_tokens(c, 0, n_tokens);
  }

  // One dispatch for every weight: a thread that runs out of rows of one weight moves on to
  // the next without waiting for the others, so there is no barrier between the weights.
  CallContext* ctx = &c;
  pool.run_on_all([ctx](size_t i, size_t) {
    uint8_t* thread_scratch = ctx->thread_scratch + i * ctx->thread_scratch_bytes;
    for (size_t wi = 0; wi < ctx->n_weights; ++wi) {
      WeightRows& wr = ctx->weights[wi];
      RowJob job = wr.job;
      job.scratch = thread_scratch;
      while (wr.chunks.claim(job.row_begin, job.row_end)) {
        if (job.acts != nullptr) {
          ctx->kernels->quant_rows(job);
        } else {
          ctx->kernels->float_rows(job);
        }
      }
    }
  });
  return {};
}

}  // namespace

Status matmul_group(std::span<const MatmulWeight> weights, int64_t K, const float* x, int64_t n_tokens,
                    ThreadPool& pool, MatmulScratch& scratch) {
  if (weights.size() > 64) {
    return invalid_argument("matmul_group: {} weights in one call; at most 64", weights.size());
  }
  for (const MatmulWeight& m : weights) STRATA_TRY(check_weight(m, K, n_tokens));
  bool any_rows = false;
  for (const MatmulWeight& m : weights) any_rows |= m.n_rows > 0;
  if (n_tokens == 0 || !any_rows) return {};
  if (x == nullptr) return invalid_argument("matmul: null activation pointer for {} tokens", n_tokens);
  for (const MatmulWeight& m : weights) {
    if (m.n_rows > 0 && (m.w == nullptr || m.y == nullptr)) {
      return invalid_argument("matmul: null {} pointer for {} rows x {} tokens",
                              m.w == nullptr ? "weight" : "output", m.n_rows, n_tokens);
    }
  }
  // Runs of weights that share their activation preparation, at most kMaxGroup at a time.
  uint64_t done = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if ((done >> i) & 1 || weights[i].n_rows == 0) continue;
    std::array<const MatmulWeight*, kMaxGroup> group{};
    size_t n = 0;
    const int key = preparation_key(weights[i].type);
    for (size_t j = i; j < weights.size() && n < kMaxGroup; ++j) {
      if ((done >> j) & 1 || weights[j].n_rows == 0 || preparation_key(weights[j].type) != key) continue;
      group[n++] = &weights[j];
      done |= uint64_t{1} << j;
    }
    STRATA_TRY(run_group(std::span<const MatmulWeight* const>(group.data(), n), K, x, n_tokens, pool, scratch));
  }
  return {};
}

Status matmul(quant::Type w_type, const void* w, size_t w_row_bytes, int64_t n_rows, int64_t K, const float* x,
              int64_t n_tokens, float* y, int64_t y_stride, ThreadPool& pool, MatmulScratch& scratch) {
  const MatmulWeight one{w_type, w, w_row_bytes, n_rows, y, y_stride};
  return matmul_group(std::span<const MatmulWeight>(&one, 1), K, x, n_tokens, pool, scratch);
}

Status matmul(quant::Type w_type, const void* w, size_t w_row_bytes, int64_t n_rows, int64_t K, const float* x,
              int64_t n_tokens, float* y, int64_t y_stride, ThreadPool& pool) {
  thread_local MatmulScratch scratch;
  return matmul(w_type, w, w_row_bytes, n_rows, K, x, n_tokens, y, y_stride, pool, scratch);
}

}  // namespace strata::backend::cpu
