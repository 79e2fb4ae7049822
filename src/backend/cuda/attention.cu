// Flash attention over a KV cache whose K and V types are chosen at run time. A block owns up
// to 16 query rows (token x head of one KV head's group) and one range of KV cells; it walks
// the range in tiles of 32 cells, decoding each tile of K and V once into shared memory as
// f32 (the per-type loader is a switch that is uniform across the block), then every warp
// runs the online softmax for its rows. Only the head dim is a template parameter, so the
// 81 K/V pairs cost no extra instantiations. Long contexts are split over several blocks
// per row whose partial results (max, sum, weighted values) a second kernel combines.
// Flash batches of kMinMmaTokens or more tokens go to the tensor-core kernel of
// attention_mma.cu instead (same partial format, same combine kernel); this one serves decode
// steps, short batches, head dim 256 and the plain path (-fa off).
#include <cmath>

#include "backend/cuda/device_formats.cuh"
#include "backend/cuda/kernels.h"

namespace strata::backend::cuda {
namespace {

constexpr int kCells = 32;       // KV cells per tile: one per lane when scoring
constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 4;  // query rows each warp carries through the tiles
constexpr int kRows = kWarps * kRowsPerWarp;
constexpr int kThreads = kWarps * 32;
constexpr int kMinSplitCells = 128;
constexpr int kKPad = 4;  // floats of padding per K row in shared memory
constexpr int kMaxSplits = 128;

// Cells [tile0, tile0 + kCells) of one K or V head, decoded to f32 rows of kRowStride floats
// in shared memory (zeros past `end`). The type is a template parameter here and the loop has
// a fixed trip count, so the compiler issues every load of the tile before the first is used:
// one memory latency per tile rather than one per 8 values (a decode step over a long cache
// is bound by that latency, and a quantized cache, which reads fewer bytes, would gain nothing).
template <int D, int kRowStride, uint32_t kType, bool kAligned>
__device__ __forceinline__ void decode_tile(const uint8_t* base, size_t stride, int64_t tile0, int64_t end,
                                            float* dst) {
  constexpr int kChunks = D / 8;
  constexpr int kTurns = (kCells * kChunks + kThreads - 1) / kThreads;
  float v[kTurns][8];
#pragma unroll
  for (int t = 0; t < kTurns; ++t) {
    const int u = threadIdx.x + t * kThreads;
    const int64_t c = tile0 + u / kChunks;
    if (u < kCells * kChunks && c < end) {
      decode8<kType, kAligned>(base + static_cast<size_t>(c) * stride, (u % kChunks) * 8, v[t]);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) v[t][i] = 0.f;
    }
  }
#pragma unroll
  for (int t = 0; t < kTurns; ++t) {
    const int u = threadIdx.x + t * kThreads;
    if (u < kCells * kChunks) {
      float* out = dst + (u / kChunks) * kRowStride + (u % kChunks) * 8;
#pragma unroll
      for (int i = 0; i < 8; ++i) out[i] = v[t][i];
    }
  }
}

// The run-time type picks the instantiation: one uniform branch per tile.
template <int D, int kRowStride, bool kAligned>
__device__ __forceinline__ void decode_tile_of(uint32_t type, const uint8_t* base, size_t stride, int64_t tile0,
                                               int64_t end, float* dst) {
  switch (type) {
    case kF32: decode_tile<D, kRowStride, kF32, kAligned>(base, stride, tile0, end, dst); break;
    case kF16: decode_tile<D, kRowStride, kF16, kAligned>(base, stride, tile0, end, dst); break;
    case kBF16: decode_tile<D, kRowStride, kBF16, kAligned>(base, stride, tile0, end, dst); break;
    case kQ8_0: decode_tile<D, kRowStride, kQ8_0, kAligned>(base, stride, tile0, end, dst); break;
    case kQ5_1: decode_tile<D, kRowStride, kQ5_1, kAligned>(base, stride, tile0, end, dst); break;
    case kQ5_0: decode_tile<D, kRowStride, kQ5_0, kAligned>(base, stride, tile0, end, dst); break;
    case kQ4_1: decode_tile<D, kRowStride, kQ4_1, kAligned>(base, stride, tile0, end, dst); break;
    case kQ4_0: decode_tile<D, kRowStride, kQ4_0, kAligned>(base, stride, tile0, end, dst); break;
    case kIQ4_NL: decode_tile<D, kRowStride, kIQ4_NL, kAligned>(base, stride, tile0, end, dst); break;
    default:  // not a KV type: zeros rather than stale shared memory
      for (int i = threadIdx.x; i < kCells * kRowStride; i += kThreads) dst[i] = 0.f;
  }
}

template <int D, int kRowStride>
__device__ __forceinline__ void decode_tile_any(uint32_t type, bool aligned, const uint8_t* base, size_t stride,
                                                int64_t tile0, int64_t end, float* dst) {
  if (aligned) {
    decode_tile_of<D, kRowStride, true>(type, base, stride, tile0, end, dst);
  } else {
    decode_tile_of<D, kRowStride, false>(type, base, stride, tile0, end, dst);
  }
}

// cp.async (sm_80+): global -> shared memory without going through registers, so the next
// tile's K and V bytes are in flight while this tile is scored: a long cache is then read at
// memory bandwidth, and a quantized one, having fewer bytes, is read faster than f16.
template <int kBytes>
__device__ __forceinline__ void copy_async(void* smem_dst, const void* global_src) {
  const auto dst = static_cast<unsigned>(__cvta_generic_to_shared(smem_dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], %2;\n" ::"r"(dst), "l"(global_src), "n"(kBytes));
}
__device__ __forceinline__ void copy_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
// Waits until at most one committed group (the newest) is still in flight.
__device__ __forceinline__ void copy_async_wait_all_but_newest() { asm volatile("cp.async.wait_group 1;\n" ::); }

// The raw bytes of cells [tile0, min(tile0 + kCells, end)) of one head into `raw`, row after
// row (row_bytes each), in `chunk`-byte copies (16, 8 or 4: what every address allows).
__device__ __forceinline__ void fetch_tile(uint8_t* raw, const uint8_t* base, size_t stride, int row_bytes,
                                           int chunk, int64_t tile0, int64_t end) {
  const int per_row = row_bytes / chunk;
  for (int i = threadIdx.x; i < kCells * per_row; i += kThreads) {
    const int cell = i / per_row;
    const int offset = (i % per_row) * chunk;
    if (tile0 + cell >= end) continue;
    const uint8_t* src = base + static_cast<size_t>(tile0 + cell) * stride + offset;
    uint8_t* dst = raw + cell * row_bytes + offset;
    switch (chunk) {
      case 16: copy_async<16>(dst, src); break;
      case 8: copy_async<8>(dst, src); break;
      default: copy_async<4>(dst, src); break;
    }
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

// Shared memory for the raw K and V bytes of two tiles (the pipelined path), at most.
constexpr size_t kMaxRawBytes = size_t{64} << 10;

template <int D>
constexpr size_t smem_bytes() {
  return sizeof(float) * (static_cast<size_t>(kRows) * D + static_cast<size_t>(kCells) * (D + kKPad) +
                          static_cast<size_t>(kCells) * D);
}

template <int D>
__global__ void __launch_bounds__(kThreads) attention_kernel(const AttentionLaunch a) {
  constexpr int kPerLane = (D + 31) / 32;
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

  // Strides are the launch's fixed block size (not blockDim), so these loops unroll and their
  // loads are in flight together: a decode step is bound by their latency, not their bytes.
#pragma unroll
  for (int i = threadIdx.x; i < kRows * D; i += kThreads) {
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
  // Pipelined (a.copy_chunk > 0): tile t + 1's raw bytes are copied into one half of `raw`
  // while tile t, in the other half, is decoded and scored.
  const bool pipelined = a.copy_chunk > 0;
  const int k_row = static_cast<int>(a.k_head_bytes), v_row = static_cast<int>(a.v_head_bytes);
  uint8_t* raw = reinterpret_cast<uint8_t*>(vs + kCells * D);
  const int raw_tile = kCells * (k_row + v_row);
  if (pipelined && begin < end) {
    fetch_tile(raw, kbase, a.k_stride, k_row, a.copy_chunk, begin, end);
    fetch_tile(raw + kCells * k_row, vbase, a.v_stride, v_row, a.copy_chunk, begin, end);
    copy_async_commit();
  }
  int half = 0;
  for (int64_t tile0 = begin; tile0 < end; tile0 += kCells) {
    __syncthreads();  // the previous tile is consumed (and Q is stored, the first time)
    if (pipelined) {
      uint8_t* next = raw + (half ^ 1) * raw_tile;
      if (tile0 + kCells < end) {
        fetch_tile(next, kbase, a.k_stride, k_row, a.copy_chunk, tile0 + kCells, end);
        fetch_tile(next + kCells * k_row, vbase, a.v_stride, v_row, a.copy_chunk, tile0 + kCells, end);
      }
      copy_async_commit();  // possibly empty: the wait below counts groups
      copy_async_wait_all_but_newest();
      __syncthreads();  // every thread's copies of this tile have landed
      const uint8_t* now = raw + half * raw_tile;
      const int64_t cells = end - tile0 < kCells ? end - tile0 : kCells;
      decode_tile_any<D, D + kKPad>(a.k_type, true, now, k_row, 0, cells, ks);
      decode_tile_any<D, D>(a.v_type, true, now + kCells * k_row, v_row, 0, cells, vs);
      half ^= 1;
    } else {
      decode_tile_any<D, D + kKPad>(a.k_type, a.k_aligned, kbase, a.k_stride, tile0, end, ks);
      decode_tile_any<D, D>(a.v_type, a.v_aligned, vbase, a.v_stride, tile0, end, vs);
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
        if (d < D) o[d] = acc[i][k] * inv;
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
    o[d] = sum * inv;
  }
}

// The widest cp.async size (16, 8 or 4 bytes) that divides every K and V address the kernel
// copies (base, head offset, cell stride, head row), or 0 for the unpipelined path: rows of
// an odd number of 2-byte units (q8_0 at head size 96, say), or raw tiles over kMaxRawBytes.
int copy_chunk(const AttentionLaunch& a) {
  if (2 * kCells * (a.k_head_bytes + a.v_head_bytes) > kMaxRawBytes) return 0;
  const auto k = reinterpret_cast<uintptr_t>(a.k), v = reinterpret_cast<uintptr_t>(a.v);
  for (const size_t chunk : {size_t{16}, size_t{8}, size_t{4}}) {
    const bool fits = k % chunk == 0 && v % chunk == 0 && a.k_head_bytes % chunk == 0 &&
                      a.v_head_bytes % chunk == 0 && a.k_stride % chunk == 0 && a.v_stride % chunk == 0;
    if (fits) return static_cast<int>(chunk);
  }
  return 0;
}

template <int D>
cudaError_t launch_dim(const AttentionLaunch& a, cudaStream_t stream) {
  constexpr size_t kSmem = smem_bytes<D>();
  static_assert(kSmem % 16 == 0);  // the raw area after it holds 16-byte copies
  cudaError_t err = cudaFuncSetAttribute(attention_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(kSmem + kMaxRawBytes));
  if (err != cudaSuccess) return err;
  AttentionLaunch piped = a;
  piped.copy_chunk = copy_chunk(a);
  const size_t raw = piped.copy_chunk > 0 ? 2 * kCells * (a.k_head_bytes + a.v_head_bytes) : 0;
  const int64_t rows = static_cast<int64_t>(a.n_tokens) * (a.n_head / a.n_head_kv);
  const dim3 grid(static_cast<unsigned>((rows + kRows - 1) / kRows), static_cast<unsigned>(a.n_head_kv),
                  static_cast<unsigned>(a.n_splits));
  attention_kernel<D><<<grid, kThreads, kSmem + raw, stream>>>(piped);
  err = cudaGetLastError();
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
  combine_kernel<<<static_cast<unsigned>(static_cast<int64_t>(a.n_tokens) * a.n_head), 128, 0, stream>>>(a);
  return cudaGetLastError();
}

size_t attention_partial_floats(const AttentionLaunch& a) {
  if (a.n_splits <= 1) return 0;
  return static_cast<size_t>(a.n_splits) * static_cast<size_t>(a.n_tokens) * static_cast<size_t>(a.n_head) *
         static_cast<size_t>(a.head_dim + 2);
}

cudaError_t launch_attention(const AttentionLaunch& a, cudaStream_t stream) {
  if (a.n_tokens <= 0) return cudaSuccess;
  switch (a.head_dim) {
    case 64: return launch_dim<64>(a, stream);
    case 80: return launch_dim<80>(a, stream);
    case 96: return launch_dim<96>(a, stream);
    case 112: return launch_dim<112>(a, stream);
    case 128: return launch_dim<128>(a, stream);
    case 256: return launch_dim<256>(a, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace strata::backend::cuda
