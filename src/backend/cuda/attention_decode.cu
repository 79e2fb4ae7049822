// Flash attention for one decode token: the query heads of one KV head's group against a
// range of KV cells. The tiled kernel of attention.cu spends a decode step waiting: its
// block decodes a tile into shared memory, synchronises, then each warp scores one query row,
// so a cell's K is read from shared memory once per row and every tile costs two barriers.
// Here every warp walks its own cells with no barrier: a cell's row is split over a group of
// lanes (8 elements each), the lanes decode K and V straight into registers, score every
// query row of the group against that K (a partial dot product summed over the lane group
// with shuffles) and fold V into per-row sums at once. Each lane group keeps its own running
// maximum and sums; they merge at the end, warps through shared memory. Scores are kept in
// base 2 (the query is pre-scaled by log2 e) so the exponentials are single ex2 instructions.
// Long contexts split the cells over several blocks per KV head; their partial results have
// the tiled kernel's format and go through its combine kernel.
#include <cmath>
#include <cstdlib>

#include "backend/cuda/activation_quant.cuh"
#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_formats.cuh"
#include "backend/cuda/kernels.h"

namespace strata::backend::cuda {
namespace {

constexpr int kMaxGroup = 8;        // query heads per KV head (GQA group) this kernel serves
constexpr int kBatch = 2;           // cells a lane group loads before it scores them
constexpr int kMaxSplits = kMaxAttentionSplits;  // what the combine kernel takes
// Groups are served by kernels for 4 and 8 rows (smaller groups padded with zero rows): the
// row loops must be compile-time so that the rows' work interleaves and acc stays in
// registers (ptxas for sm_90: 128 registers for 4 rows, 168 for 8; registers_of below only
// sizes the split count, the launch bounds keep 16 warps within 128).
//
// Warps per block: as many as the registers of one multiprocessor hold (16 at 128
// registers), so that a block alone covers a short context — no split, no combine kernel —
// and long contexts need few splits; bounded so the warps' partial sums fit 32 KB of shared
// memory for the final merge.
__host__ __device__ constexpr int warps_of(int d, int rows) {
  int w = rows <= 4 ? 16 : 4;
  while (w > 4 && w * rows * d * 4 > 32 * 1024) w /= 2;
  return w;
}
constexpr int registers_of(int rows) { return rows <= 4 ? 128 : 168; }
constexpr int blocks_per_sm(int d, int rows) { return 65536 / (registers_of(rows) * 32 * warps_of(d, rows)); }
// A split's cells: at least 16 per warp, so that its fixed costs (Q, the merge, the combine's
// share) stay small against the cells.
constexpr int min_split_cells(int d, int rows) { return 16 * warps_of(d, rows); }
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// How a head's row of D elements spreads over a warp: 8 elements per lane, the lanes of one
// cell a power of two (rows of 10 or 14 units leave some lanes idle), several cells per warp.
template <int D>
struct RowLayout {
  static constexpr int kUnits = D / 8;
  static constexpr int kLanes = kUnits <= 8 ? 8 : (kUnits <= 16 ? 16 : 32);
  static constexpr int kSlots = 32 / kLanes;  // cells a warp reads at once
  static constexpr int kCellsPerWarp = kSlots * kBatch;
};

// Sums each of the N values (a power of two) over the kLanes lanes of the lane's group and
// leaves every lane with all N sums. Summing each value with its own shuffle tree takes
// N * log2(kLanes) shuffles and adds; here the lanes first split the values between them
// (each step a lane keeps half of its values and adds its partner's copy of that half: N - 1
// shuffles and adds in all, until one value per lane is left, then plain butterfly steps),
// and then every lane gathers the N sums from the lanes that hold them (N shuffles).
template <int kLanes, int N>
__device__ __forceinline__ void sum_over_lane_group(float (&v)[N], int lane) {
  static_assert((N & (N - 1)) == 0 && (kLanes & (kLanes - 1)) == 0, "powers of two");
  int count = N;  // values still held; a compile-time sequence once unrolled
#pragma unroll
  for (int o = kLanes / 2; o > 0; o >>= 1) {
    if (count > 1) {
      const bool upper = (lane & o) != 0;  // keeps the upper half of the values
#pragma unroll
      for (int j = 0; j < N / 2; ++j) {
        if (j < count / 2) {
          const float send = upper ? v[j] : v[j + count / 2];
          const float keep = upper ? v[j + count / 2] : v[j];
          v[j] = keep + __shfl_xor_sync(0xFFFFFFFFu, send, o);
        }
      }
      count /= 2;
    } else {
      v[0] += __shfl_xor_sync(0xFFFFFFFFu, v[0], o);
    }
  }
  // The lane holding sum i: at each halving step (offsets kLanes/2, kLanes/4, ...) the upper
  // lanes took the upper half, so the top bits of i are those lane bits; with more values than
  // lanes, each lane is left with `count` of them, i % count among them.
  float held[N];
#pragma unroll
  for (int i = 0; i < N; ++i) held[i] = v[i];
  const int group_base = lane & ~(kLanes - 1);
#pragma unroll
  for (int i = 0; i < N; ++i) {
    int src = 0, c = N;
#pragma unroll
    for (int o = kLanes / 2; o > 0; o >>= 1) {
      if (c > 1) {
        if (i % c >= c / 2) src |= o;
        c /= 2;
      }
    }
    v[i] = __shfl_sync(0xFFFFFFFFu, held[i % count], group_base + src);
  }
}

// Elements e..e+7 of kBatch rows of one KV type. The switch sits outside the loop so all
// rows' loads are issued before the first is decoded.
template <bool kAligned>
__device__ __forceinline__ void decode_rows(uint32_t type, const uint8_t* const rows[kBatch], int e,
                                            float v[kBatch][8]) {
#define STRATA_DECODE_ROWS(T)                                                              \
  case T:                                                                                  \
    _Pragma("unroll") for (int b = 0; b < kBatch; ++b) decode8<T, kAligned>(rows[b], e, v[b]); \
    break;
  switch (type) {
    STRATA_DECODE_ROWS(kF32)
    STRATA_DECODE_ROWS(kF16)
    STRATA_DECODE_ROWS(kBF16)
    STRATA_DECODE_ROWS(kQ8_0)
    STRATA_DECODE_ROWS(kQ5_1)
    STRATA_DECODE_ROWS(kQ5_0)
    STRATA_DECODE_ROWS(kQ4_1)
    STRATA_DECODE_ROWS(kQ4_0)
    STRATA_DECODE_ROWS(kIQ4_NL)
    default:
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
#pragma unroll
        for (int i = 0; i < 8; ++i) v[b][i] = 0.f;
      }
  }
#undef STRATA_DECODE_ROWS
}

__device__ __forceinline__ void decode_rows_any(uint32_t type, bool aligned, const uint8_t* const rows[kBatch], int e,
                                                float v[kBatch][8]) {
  if (aligned) {
    decode_rows<true>(type, rows, e, v);
  } else {
    decode_rows<false>(type, rows, e, v);
  }
}

// The reference a running maximum rescales against: mx itself, or 0 while nothing has been
// seen (mx = -inf), so that exp2f(m - ref) is 0 for an empty state without a branch.
__device__ __forceinline__ float rescale_ref(float mx) { return mx == -INFINITY ? 0.f : mx; }

// L2 prefetch of the 32-byte sector `part` of a head's row (the lanes of a cell cover it).
__device__ __forceinline__ void prefetch_row(const uint8_t* row, size_t bytes, int part) {
  const size_t off = static_cast<size_t>(part) * 32;
  if (off < bytes) asm volatile("prefetch.global.L2 [%0];" ::"l"(row + off));
}

template <int D, int kRows>
__global__ void __launch_bounds__(warps_of(D, kRows) * 32) decode_attention_kernel(const AttentionLaunch a) {
  using L = RowLayout<D>;
  constexpr int kWarps = warps_of(D, kRows);
  constexpr int kThreads = kWarps * 32;
  __shared__ __align__(16) float qs[kRows * D];  // the group's query rows, scaled to base 2
  __shared__ float warp_m[kWarps][kRows];
  __shared__ float warp_l[kWarps][kRows];
  __shared__ float warp_acc[kWarps][kRows * D];
  start_after_predecessor();

  const int group = a.n_head / a.n_head_kv;
  const int kvh = blockIdx.x;
  const int split = blockIdx.y;
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int slot = lane / L::kLanes;
  const int part = lane % L::kLanes;
  const bool active = part < L::kUnits;
  const int e = (active ? part : 0) * 8;  // idle lanes decode the first unit and ignore it

  const float q_scale = a.scale * kLog2e;
  for (int i = threadIdx.x; i < kRows * D; i += kThreads) {  // rows past the group stay zero
    qs[i] = i < group * D ? a.q[static_cast<int64_t>(kvh * group) * D + i] * q_scale : 0.f;
  }
  const int pos = a.pos[0];
  const int64_t kv_extent = a.kv_extent > 0 ? a.kv_extent : static_cast<int64_t>(pos) + 1;
  const int64_t span = (kv_extent + a.n_splits - 1) / a.n_splits;
  const int64_t begin = split * span;
  const int64_t end = min(begin + span, static_cast<int64_t>(pos) + 1);
  __syncthreads();

  constexpr int kScores = kRows * kBatch;  // (row, cell) pairs a lane group scores per turn
  float m[kRows], l[kRows], acc[kRows][8];
#pragma unroll
  for (int g = 0; g < kRows; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[g][i] = 0.f;
  }

  const auto* kbase = static_cast<const uint8_t*>(a.k) + static_cast<size_t>(kvh) * a.k_head_bytes;
  const auto* vbase = static_cast<const uint8_t*>(a.v) + static_cast<size_t>(kvh) * a.v_head_bytes;
  constexpr int kStep = kWarps * L::kCellsPerWarp;  // cells the block covers per turn
  const size_t k_step_bytes = kStep * a.k_stride;
  const size_t v_step_bytes = kStep * a.v_stride;
  for (int64_t c0 = begin + warp * L::kCellsPerWarp; c0 < end; c0 += kStep) {
    const uint8_t* krows[kBatch];
    const uint8_t* vrows[kBatch];
    bool valid[kBatch];
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int64_t c = c0 + b * L::kSlots + slot;
      valid[b] = c < end;
      const auto cell = static_cast<size_t>(valid[b] ? c : c0);  // c0 < end: a real cell to read
      krows[b] = kbase + cell * a.k_stride;
      vrows[b] = vbase + cell * a.v_stride;
      // The next turn's rows head for L2 while this turn's are scored: a warp's loads
      // otherwise wait a full memory latency every turn.
      if (c + kStep < end) {
        prefetch_row(krows[b] + k_step_bytes, a.k_head_bytes, part);
        prefetch_row(vrows[b] + v_step_bytes, a.v_head_bytes, part);
      }
    }
    float kx[kBatch][8], vx[kBatch][8];
    decode_rows_any(a.k_type, a.k_aligned, krows, e, kx);
    decode_rows_any(a.v_type, a.v_aligned, vrows, e, vx);

    // Every row's partial dot products with every cell, then their sums over the lane group.
    float s[kScores];
#pragma unroll
    for (int g = 0; g < kRows; ++g) {
      const float4 q0 = *reinterpret_cast<const float4*>(qs + g * D + e);
      const float4 q1 = *reinterpret_cast<const float4*>(qs + g * D + e + 4);
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const float* k = kx[b];
        const float lo = fmaf(q0.x, k[0], fmaf(q0.y, k[1], fmaf(q0.z, k[2], q0.w * k[3])));
        const float hi = fmaf(q1.x, k[4], fmaf(q1.y, k[5], fmaf(q1.z, k[6], q1.w * k[7])));
        s[g * kBatch + b] = active ? lo + hi : 0.f;
      }
    }
    sum_over_lane_group<L::kLanes>(s, lane);

#pragma unroll
    for (int g = 0; g < kRows; ++g) {
      float mx = m[g];
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        if (!valid[b]) s[g * kBatch + b] = -INFINITY;
        mx = fmaxf(mx, s[g * kBatch + b]);
      }
      if (mx > m[g]) {  // the maximum grew (rarely, after the first cells): rescale the sums
        const float corr = exp2f(m[g] - mx);  // 0 from the empty state
        l[g] *= corr;
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[g][i] *= corr;
        m[g] = mx;
      }
      const float ref = rescale_ref(m[g]);
#pragma unroll
      for (int b = 0; b < kBatch; ++b) {
        const float p = exp2f(s[g * kBatch + b] - ref);  // 0 for an invalid cell
        l[g] += p;
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[g][i] = fmaf(p, vx[b][i], acc[g][i]);
      }
    }
  }

  // The warp's lane groups (cells read side by side) merge into the first.
#pragma unroll
  for (int o = L::kLanes; o < 32; o <<= 1) {
#pragma unroll
    for (int g = 0; g < kRows; ++g) {
      const float mo = __shfl_xor_sync(0xFFFFFFFFu, m[g], o);
      const float lo = __shfl_xor_sync(0xFFFFFFFFu, l[g], o);
      const float mx = fmaxf(m[g], mo);
      const float ref = rescale_ref(mx);
      const float ca = exp2f(m[g] - ref);
      const float cb = exp2f(mo - ref);
      l[g] = l[g] * ca + lo * cb;
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[g][i] = acc[g][i] * ca + __shfl_xor_sync(0xFFFFFFFFu, acc[g][i], o) * cb;
      m[g] = mx;
    }
  }
  if (slot == 0) {
#pragma unroll
    for (int g = 0; g < kRows; ++g) {
      if (active) {
#pragma unroll
        for (int i = 0; i < 8; ++i) warp_acc[warp][g * D + e + i] = acc[g][i];
      }
      if (lane == 0) {
        warp_m[warp][g] = m[g];
        warp_l[warp][g] = l[g];
      }
    }
  }
  __syncthreads();

  // The warps merge; a warp writes 32 consecutive outputs (one quantization unit of the
  // o projection's input when head_dim is a multiple of 32, which out_q requires).
  const int n_out = group * D;
  for (int base = warp * 32; base < n_out; base += kThreads) {
    const int idx = base + lane;
    const bool in = idx < n_out;
    const int g = in ? idx / D : 0;
    const int d = idx % D;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, warp_m[w][g]);
    const float ref = rescale_ref(mx);
    float sum_l = 0.f, sum_acc = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float c = exp2f(warp_m[w][g] - ref);
      sum_l += warp_l[w][g] * c;
      sum_acc += (in ? warp_acc[w][idx] : 0.f) * c;
    }
    const int h = kvh * group + g;
    if (a.n_splits == 1) {
      const float v = in ? sum_acc / sum_l : 0.f;  // cell 0 is in the only split: sum_l > 0
      if (in) a.out[static_cast<int64_t>(h) * D + d] = v;
      if (a.out_q != nullptr) quantize_unit(v, (static_cast<int64_t>(h) * D + d) / 32, a.out_q, a.out_qds);
    } else if (in) {
      float* p = a.partials + (static_cast<int64_t>(split) * a.n_head + h) * (D + 2);  // token 0
      p[d] = sum_acc;
      if (d == 0) {
        p[D] = mx * kLn2;  // natural-log units, as the tiled kernel writes
        p[D + 1] = sum_l;
      }
    }
  }
}

int rows_of(const AttentionLaunch& a) { return a.n_head / a.n_head_kv <= 4 ? 4 : kMaxGroup; }

template <int D>
cudaError_t launch_dim(const AttentionLaunch& a, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(a.n_head_kv), static_cast<unsigned>(a.n_splits));
  cudaError_t err = rows_of(a) == 4 ? launch_dependent(decode_attention_kernel<D, 4>, grid, warps_of(D, 4) * 32, 0,
                                                       stream, a)
                                    : launch_dependent(decode_attention_kernel<D, kMaxGroup>, grid,
                                                       warps_of(D, kMaxGroup) * 32, 0, stream, a);
  if (err != cudaSuccess || a.n_splits == 1) return err;
  return launch_attention_combine(a, stream);
}

// Blocks per multiprocessor the split count aims at: by default what one wave holds (a block
// more would take a second wave's time); STRATA_CUDA_DECODE_BLOCKS=N overrides it, for tuning.
int64_t target_blocks_per_sm(int d, int rows) {
  static const int override = [] {
    const char* env = std::getenv("STRATA_CUDA_DECODE_BLOCKS");
    const int n = env != nullptr ? std::atoi(env) : 0;
    return n >= 1 && n <= 64 ? n : 0;
  }();
  return override != 0 ? override : blocks_per_sm(d, rows);
}

}  // namespace

bool attention_decode_eligible(const AttentionLaunch& a) {
  return a.n_tokens == 1 && !a.plain && a.n_head_kv > 0 && a.n_head % a.n_head_kv == 0 &&
         a.n_head / a.n_head_kv <= kMaxGroup && attention_head_dim_supported(a.head_dim);
}

int attention_decode_splits(const AttentionLaunch& a, int n_sms) {
  const int rows = rows_of(a);
  const int64_t wanted = target_blocks_per_sm(a.head_dim, rows) * n_sms / a.n_head_kv;
  const int64_t min_cells = min_split_cells(a.head_dim, rows);
  const int64_t by_length = (a.kv_extent + min_cells - 1) / min_cells;
  int64_t n = wanted < by_length ? wanted : by_length;
  if (n > kMaxSplits) n = kMaxSplits;
  return n < 1 ? 1 : static_cast<int>(n);
}

cudaError_t launch_attention_decode(const AttentionLaunch& a, cudaStream_t stream) {
  if (!attention_decode_eligible(a) || a.n_splits < 1 || a.n_splits > kMaxSplits) return cudaErrorInvalidValue;
  return with_head_dim(a.head_dim, [&](auto d) { return launch_dim<decltype(d)::value>(a, stream); });
}

}  // namespace strata::backend::cuda
