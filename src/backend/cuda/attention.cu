// Flash attention over a KV cache whose K and V types are chosen at run time. A block owns up
// to 16 query rows (token x head of one KV head's group) and one range of KV cells; it walks
// the range in tiles of 32 cells, decoding each tile of K and V once into shared memory as
// f32 (the per-type loader is a switch that is uniform across the block), then every warp
// runs the online softmax for its rows. Only the head dim is a template parameter, so the
// 81 K/V pairs cost no extra instantiations. Long contexts are split over several blocks
// per row whose partial results (max, sum, weighted values) a second kernel combines.
// Flash batches of kMinMmaTokens or more tokens go to the tensor-core kernel of
// attention_mma.cu instead (same partial format, same combine kernel), and one-token flash
// launches to attention_decode.cu; this one serves short batches, head dim 256, groups of
// more than 8 query heads and the plain path (-fa off).
#include <cmath>

#include "backend/cuda/activation_quant.cuh"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_formats.cuh"
#include "backend/cuda/kernels.h"

namespace strata::backend::cuda {
namespace {

constexpr int kCells = 32;       // KV cells per tile: one per lane when scoring
constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 4;  // query rows each warp carries through the tiles
constexpr int kRows = kWarps * kRowsPerWarp;
constexpr int kMinSplitCells = 128;
constexpr int kKPad = 4;  // floats of padding per K row in shared memory
constexpr int kMaxSplits = kMaxAttentionSplits;

template <bool kAligned>
__device__ __forceinline__ void decode_kv(uint32_t type, const uint8_t* row, int64_t e, float v[8]) {
  switch (type) {
    case kF32: decode8<kF32, kAligned>(row, e, v); break;
    case kF16: decode8<kF16, kAligned>(row, e, v); break;
    case kBF16: decode8<kBF16, kAligned>(row, e, v); break;
    case kQ8_0: decode8<kQ8_0, kAligned>(row, e, v); break;
    case kQ5_1: decode8<kQ5_1, kAligned>(row, e, v); break;
    case kQ5_0: decode8<kQ5_0, kAligned>(row, e, v); break;
    case kQ4_1: decode8<kQ4_1, kAligned>(row, e, v); break;
    case kQ4_0: decode8<kQ4_0, kAligned>(row, e, v); break;
    case kIQ4_NL: decode8<kIQ4_NL, kAligned>(row, e, v); break;
    default:
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = 0.f;
  }
}

__device__ __forceinline__ void decode_kv_any(uint32_t type, bool aligned, const uint8_t* row, int64_t e,
                                              float v[8]) {
  if (aligned) {
    decode_kv<true>(type, row, e, v);
  } else {
    decode_kv<false>(type, row, e, v);
  }
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  return v;
}

__host__ __device__ inline int64_t split_cells(int64_t kv_extent, int n_splits) {
  const int64_t per = (kv_extent + n_splits - 1) / n_splits;
  return (per + kCells - 1) / kCells * kCells;
}

// Scores of a warp's first kN row slots against the tile's cells (lane = cell).
template <int D, int kN>
__device__ __forceinline__ void tile_scores(const float* krow, const float* qw, float s[kRowsPerWarp]) {
#pragma unroll 4
  for (int d = 0; d < D; d += 4) {
    const float4 k = *reinterpret_cast<const float4*>(krow + d);
#pragma unroll
    for (int i = 0; i < kN; ++i) {
      const float4 q = *reinterpret_cast<const float4*>(qw + i * kWarps * D + d);
      s[i] = fmaf(q.x, k.x, fmaf(q.y, k.y, fmaf(q.z, k.z, fmaf(q.w, k.w, s[i]))));
    }
  }
}

template <int D>
constexpr size_t smem_bytes() {
  return sizeof(float) * (static_cast<size_t>(kRows) * D + static_cast<size_t>(kCells) * (D + kKPad) +
                          static_cast<size_t>(kCells) * D);
}

template <int D>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(const AttentionLaunch a) {
  start_after_predecessor();
  constexpr int kPerLane = (D + 31) / 32;
  constexpr int kChunks = D / 8;
  extern __shared__ float smem[];
  float* qs = smem;                   // [kRows][D], pre-scaled
  float* ks = qs + kRows * D;            // [kCells][D + kKPad]: lane = cell reads its row with
  float* vs = ks + kCells * (D + kKPad);  // 16-byte loads that hit distinct banks; [kCells][D]

  const int group = a.n_head / a.n_head_kv;
  const int n_rows = a.n_tokens * group;
  const int kvh = blockIdx.y;
  const int row0 = blockIdx.x * kRows;
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;

  for (int i = threadIdx.x; i < kRows * D; i += blockDim.x) {
    const int r = row0 + i / D;
    float val = 0.f;
    if (r < n_rows) {
      const int t = r / group;
      const int h = kvh * group + r % group;
      val = a.q[t * a.q_stride + static_cast<int64_t>(h) * D + i % D] * a.scale;
    }
    qs[i] = val;
  }
  int block_max = -1;
  for (int i = 0; i < kRows; ++i) {
    const int r = row0 + i;
    if (r < n_rows) block_max = max(block_max, a.pos[r / group]);
  }
  // Row slot i of warp w is row i * kWarps + w of the tile, so a tile of only a few rows
  // (a decode step's heads of one group) still spreads over every warp.
  int my_pos[kRowsPerWarp];
  int n_slots = 0;
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int r = row0 + i * kWarps + warp;
    my_pos[i] = r < n_rows ? a.pos[r / group] : -1;
    n_slots += r < n_rows ? 1 : 0;
  }

  int64_t kv_extent = a.kv_extent;
  if (kv_extent <= 0) {  // a graph re-used across steps: the positions are this step's
    for (int t = 0; t < a.n_tokens; ++t) kv_extent = max(kv_extent, static_cast<int64_t>(a.pos[t]) + 1);
  }
  const int64_t span = split_cells(kv_extent, a.n_splits);
  const int64_t begin = blockIdx.z * span;
  const int64_t end = min(begin + span, static_cast<int64_t>(block_max) + 1);

  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][kPerLane];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.f;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) acc[i][k] = 0.f;
  }

  const auto* kbase = static_cast<const uint8_t*>(a.k) + static_cast<size_t>(kvh) * a.k_head_bytes;
  const auto* vbase = static_cast<const uint8_t*>(a.v) + static_cast<size_t>(kvh) * a.v_head_bytes;
  for (int64_t tile0 = begin; tile0 < end; tile0 += kCells) {
    __syncthreads();  // the previous tile is consumed (and Q is stored, the first time)
    for (int u = threadIdx.x; u < kCells * kChunks; u += blockDim.x) {
      const int cell = u / kChunks;
      const int e = (u % kChunks) * 8;
      const int64_t c = tile0 + cell;
      float kv[8], vv[8];
      if (c < end) {
        decode_kv_any(a.k_type, a.k_aligned, kbase + static_cast<size_t>(c) * a.k_stride, e, kv);
        decode_kv_any(a.v_type, a.v_aligned, vbase + static_cast<size_t>(c) * a.v_stride, e, vv);
      } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) kv[i] = vv[i] = 0.f;
      }
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        ks[cell * (D + kKPad) + e + i] = kv[i];
        vs[cell * D + e + i] = vv[i];
      }
    }
    __syncthreads();

    float s[kRowsPerWarp];
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) s[i] = 0.f;
    const float* krow = ks + lane * (D + kKPad);
    const float* qw = qs + warp * D;
    switch (n_slots) {  // only the slots that hold rows (a decode step fills one per warp)
      case 0: break;
      case 1: tile_scores<D, 1>(krow, qw, s); break;
      case 2: tile_scores<D, 2>(krow, qw, s); break;
      case 3: tile_scores<D, 3>(krow, qw, s); break;
      default: tile_scores<D, kRowsPerWarp>(krow, qw, s); break;
    }
    const int64_t c = tile0 + lane;
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      if (my_pos[i] < tile0) continue;  // absent row, or every cell of the tile is after it
      const float si = (c <= my_pos[i] && c < end) ? s[i] : -INFINITY;
      const float m_new = fmaxf(m[i], warp_max(si));
      const float corr = expf(m[i] - m_new);
      const float p = expf(si - m_new);
      l[i] = l[i] * corr + warp_sum(p);
      m[i] = m_new;
#pragma unroll
      for (int k = 0; k < kPerLane; ++k) acc[i][k] *= corr;
      for (int j = 0; j < kCells; ++j) {
        const float pj = __shfl_sync(0xFFFFFFFFu, p, j);
        const float* vrow = vs + j * D;
#pragma unroll
        for (int k = 0; k < kPerLane; ++k) {
          const int d = lane + 32 * k;
          if (d < D) acc[i][k] = fmaf(pj, vrow[d], acc[i][k]);
        }
      }
    }
  }

#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int r = row0 + i * kWarps + warp;
    if (r >= n_rows) continue;
    const int t = r / group;
    const int h = kvh * group + r % group;
    if (a.n_splits == 1) {
      float* o = a.out + t * a.out_stride + static_cast<int64_t>(h) * D;
      const float inv = 1.f / l[i];
#pragma unroll
      for (int k = 0; k < kPerLane; ++k) {
        const int d = lane + 32 * k;
        if (d < D) {
          const float v = acc[i][k] * inv;
          o[d] = v;
          // D is a multiple of 32 when out_q is set: the warp holds the whole unit.
          if (a.out_q != nullptr) {
            quantize_unit(v, (t * a.out_stride + static_cast<int64_t>(h) * D + d) / 32, a.out_q, a.out_qds);
          }
        }
      }
    } else {
      const int64_t slot = (static_cast<int64_t>(blockIdx.z) * a.n_tokens + t) * a.n_head + h;
      float* p = a.partials + slot * (D + 2);
#pragma unroll
      for (int k = 0; k < kPerLane; ++k) {
        const int d = lane + 32 * k;
        if (d < D) p[d] = acc[i][k];
      }
      if (lane == 0) {
        p[D] = m[i];
        p[D + 1] = l[i];
      }
    }
  }
}

// out = sum over splits of acc * e^(m - M) / sum of l * e^(m - M), M the largest m. The
// block's threads share the splits (a serial walk over 64 splits of loads would take longer
// than the attention itself); the weights e^(m - M) go through shared memory.
__device__ __forceinline__ float block_reduce(float v, bool is_max, float* scratch) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(0xFFFFFFFFu, v, o);
    v = is_max ? fmaxf(v, other) : v + other;
  }
  const int warps = (blockDim.x + 31) / 32;
  __syncthreads();  // scratch is free (an earlier reduction's readers are done)
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  float r = scratch[0];
  for (int w = 1; w < warps; ++w) r = is_max ? fmaxf(r, scratch[w]) : r + scratch[w];
  return r;
}

__global__ void combine_kernel(const AttentionLaunch a) {
  start_after_predecessor();
  __shared__ float weight[kMaxSplits];
  __shared__ float scratch[32];
  const int row = blockIdx.x;  // t * n_head + h
  const int t = row / a.n_head;
  const int h = row % a.n_head;
  const int D = a.head_dim;
  const int64_t stride = static_cast<int64_t>(a.n_tokens) * a.n_head * (D + 2);
  const float* p = a.partials + static_cast<int64_t>(row) * (D + 2);
  float m = -INFINITY;
  for (int s = threadIdx.x; s < a.n_splits; s += blockDim.x) m = fmaxf(m, p[s * stride + D]);
  const float M = block_reduce(m, true, scratch);
  float l = 0.f;
  for (int s = threadIdx.x; s < a.n_splits; s += blockDim.x) {
    const float ms = p[s * stride + D];
    const float w = ms != -INFINITY ? expf(ms - M) : 0.f;
    weight[s] = w;
    l += p[s * stride + D + 1] * w;
  }
  const float inv = 1.f / block_reduce(l, false, scratch);  // also publishes weight[]
  float* o = a.out + t * a.out_stride + static_cast<int64_t>(h) * D;
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float sum = 0.f;
#pragma unroll 8
    for (int s = 0; s < a.n_splits; ++s) sum += p[s * stride + d] * weight[s];
    const float v = sum * inv;
    o[d] = v;
    // D is a multiple of 32 when out_q is set: a warp's lanes are one unit, all in the loop.
    if (a.out_q != nullptr) {
      quantize_unit(v, (t * a.out_stride + static_cast<int64_t>(h) * D + d) / 32, a.out_q, a.out_qds);
    }
  }
}

template <int D>
cudaError_t launch_dim(const AttentionLaunch& a, cudaStream_t stream) {
  constexpr size_t kSmem = smem_bytes<D>();
  cudaError_t err = cudaFuncSetAttribute(attention_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(kSmem));
  if (err != cudaSuccess) return err;
  const int64_t rows = static_cast<int64_t>(a.n_tokens) * (a.n_head / a.n_head_kv);
  const dim3 grid(static_cast<unsigned>((rows + kRows - 1) / kRows), static_cast<unsigned>(a.n_head_kv),
                  static_cast<unsigned>(a.n_splits));
  err = launch_dependent(attention_kernel<D>, grid, kWarps * 32, kSmem, stream, a);
  if (err != cudaSuccess || a.n_splits == 1) return err;
  return launch_attention_combine(a, stream);
}

}  // namespace

bool attention_head_dim_supported(int head_dim) {
  switch (head_dim) {
    case 64:
    case 80:
    case 96:
    case 112:
    case 128:
    case 256: return true;
    default: return false;
  }
}

int attention_splits(const AttentionLaunch& a, int n_sms) {
  if (attention_decode_eligible(a)) return attention_decode_splits(a, n_sms);
  const int64_t rows = static_cast<int64_t>(a.n_tokens) * (a.n_head / a.n_head_kv);
  const int64_t blocks = (rows + kRows - 1) / kRows * a.n_head_kv;
  // About four resident blocks per multiprocessor hide the loads' latency.
  const int64_t wanted = (4 * static_cast<int64_t>(n_sms) + blocks - 1) / blocks;
  const int64_t by_length = (a.kv_extent + kMinSplitCells - 1) / kMinSplitCells;
  int64_t n = wanted < by_length ? wanted : by_length;
  if (n > kMaxSplits) n = kMaxSplits;
  return n < 1 ? 1 : static_cast<int>(n);
}

cudaError_t launch_attention_combine(const AttentionLaunch& a, cudaStream_t stream) {
  if (a.n_splits > kMaxSplits) return cudaErrorInvalidValue;
  return launch_dependent(combine_kernel, static_cast<unsigned>(static_cast<int64_t>(a.n_tokens) * a.n_head), 128, 0,
                          stream, a);
}

size_t attention_partial_floats(const AttentionLaunch& a) {
  if (a.n_splits <= 1) return 0;
  return static_cast<size_t>(a.n_splits) * static_cast<size_t>(a.n_tokens) * static_cast<size_t>(a.n_head) *
         static_cast<size_t>(a.head_dim + 2);
}

cudaError_t launch_attention(const AttentionLaunch& a, cudaStream_t stream) {
  if (a.n_tokens <= 0) return cudaSuccess;
  if (attention_decode_eligible(a)) return launch_attention_decode(a, stream);
  return with_head_dim(a.head_dim, [&](auto d) { return launch_dim<decltype(d)::value>(a, stream); });
}

}  // namespace strata::backend::cuda
