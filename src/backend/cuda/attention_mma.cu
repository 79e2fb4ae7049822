// Prefill flash attention on tensor cores (mma.sync m16n8k16, f16 operands, f32 accumulators),
// for batches of many query rows. A block owns 128 query rows (token x head of one KV head's
// group; 16 per warp) and one range of KV cells. It walks the range in tiles of 64 cells: the
// whole block decodes a tile of K and V once from whatever cache type they have (the same
// run-time row decoders as the CUDA-core kernel, so no K/V pair needs its own instantiation)
// into shared memory as f16, K row-major and V transposed; then each warp computes its 16 x 64
// scores with Q (kept in registers as f16 fragments), runs the online softmax on them and adds
// P V into its f32 output accumulators. Q, K, P and V round to f16 (about 3 decimal digits),
// so results differ from the f32 path by up to ~1e-3 of max |V|. Partial results of split KV
// ranges use the CUDA-core kernel's format and combine kernel.
#include <cuda_fp16.h>

#include <cmath>

#include "backend/cuda/dependent_launch.cuh"
#include "backend/cuda/device_formats.cuh"
#include "backend/cuda/kernels.h"

namespace strata::backend::cuda {
namespace {

// 8 warps: every block decodes each K/V tile for its own rows, so more rows per block decode
// it fewer times over (H100, 8B, pp512 at depth 8192: 6604 t/s with 4 warps, 7562 with 8;
// at depth 0 17248 and 16689). 180-199 registers: one block per multiprocessor.
constexpr int kWarps = 8;
constexpr int kRows = 16 * kWarps;  // query rows per block
constexpr int kTile = 64;           // KV cells per tile
constexpr int kPad = 8;             // halves of padding per shared row (bank spread)
constexpr int kMaxSplits = kMaxAttentionSplits;  // the combine kernel's limit
constexpr int kMinSplitCells = 256;

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

__device__ __forceinline__ void mma16816(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void decode_any(uint32_t type, bool aligned, const uint8_t* row, int64_t e, float v[8]) {
  if (aligned) {
    decode8_any<true>(type, row, e, v);
  } else {
    decode8_any<false>(type, row, e, v);
  }
}

template <int D>
constexpr size_t smem_bytes() {
  return sizeof(__half) * (static_cast<size_t>(kTile) * (D + kPad) + static_cast<size_t>(D) * (kTile + kPad));
}

__device__ __forceinline__ int64_t split_span(int64_t kv_extent, int n_splits) {
  const int64_t per = (kv_extent + n_splits - 1) / n_splits;
  return (per + 31) / 32 * 32;  // the CUDA-core kernel's rounding (its tiles are 32 cells)
}

template <int D>
__global__ void __launch_bounds__(kWarps * 32) attention_mma_kernel(const AttentionLaunch a) {
  start_after_predecessor();
  constexpr int kSteps = D / 16;  // k-steps of the scores
  constexpr int kOut = D / 8;     // n-tiles of the output
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __half* ks = reinterpret_cast<__half*>(smem_raw);  // [kTile][D + kPad]
  __half* vt = ks + kTile * (D + kPad);              // [D][kTile + kPad]

  const int group = a.n_head / a.n_head_kv;
  const int n_rows = a.n_tokens * group;
  const int kvh = blockIdx.y;
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;
  const int g = lane >> 2, c = lane & 3;
  const int row0 = blockIdx.x * kRows;
  const int wrow = row0 + warp * 16;

  // This thread's two rows (g, g + 8 of the warp's 16) and their positions.
  int pos_lo = -1, pos_hi = -1;
  const float* q_lo = nullptr;
  const float* q_hi = nullptr;
  {
    const int r = wrow + g, r8 = wrow + g + 8;
    if (r < n_rows) {
      pos_lo = a.pos[r / group];
      q_lo = a.q + (r / group) * a.q_stride + static_cast<int64_t>(kvh * group + r % group) * D;
    }
    if (r8 < n_rows) {
      pos_hi = a.pos[r8 / group];
      q_hi = a.q + (r8 / group) * a.q_stride + static_cast<int64_t>(kvh * group + r8 % group) * D;
    }
  }
  // Q as A fragments, pre-scaled: reg 0 (row g, k 2c..2c+1), 1 (row g+8), 2 (row g, k+8), 3 (row g+8, k+8).
  uint32_t qa[kSteps][4];
#pragma unroll
  for (int s = 0; s < kSteps; ++s) {
    const int k0 = s * 16 + 2 * c;
    float x0 = 0.f, x1 = 0.f, x2 = 0.f, x3 = 0.f, y0 = 0.f, y1 = 0.f, y2 = 0.f, y3 = 0.f;
    if (q_lo != nullptr) x0 = q_lo[k0] * a.scale, x1 = q_lo[k0 + 1] * a.scale, x2 = q_lo[k0 + 8] * a.scale,
                         x3 = q_lo[k0 + 9] * a.scale;
    if (q_hi != nullptr) y0 = q_hi[k0] * a.scale, y1 = q_hi[k0 + 1] * a.scale, y2 = q_hi[k0 + 8] * a.scale,
                         y3 = q_hi[k0 + 9] * a.scale;
    qa[s][0] = pack_half2(x0, x1);
    qa[s][1] = pack_half2(y0, y1);
    qa[s][2] = pack_half2(x2, x3);
    qa[s][3] = pack_half2(y2, y3);
  }
  // The block's and the warp's last positions bound the cells worth reading.
  int block_max = -1, warp_max_pos = max(pos_lo, pos_hi);
  for (int i = 0; i < kRows; ++i) {
    const int r = row0 + i;
    if (r < n_rows) block_max = max(block_max, a.pos[r / group]);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) warp_max_pos = max(warp_max_pos, __shfl_xor_sync(0xFFFFFFFFu, warp_max_pos, o));

  int64_t kv_extent = a.kv_extent;
  if (kv_extent <= 0) {
    for (int t = 0; t < a.n_tokens; ++t) kv_extent = max(kv_extent, static_cast<int64_t>(a.pos[t]) + 1);
  }
  const int64_t span = split_span(kv_extent, a.n_splits);
  const int64_t begin = blockIdx.z * span;
  const int64_t end = min(begin + span, static_cast<int64_t>(block_max) + 1);

  float o[kOut][4];
#pragma unroll
  for (int n = 0; n < kOut; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m_lo = -INFINITY, m_hi = -INFINITY, l_lo = 0.f, l_hi = 0.f;

  const auto* kbase = static_cast<const uint8_t*>(a.k) + static_cast<size_t>(kvh) * a.k_head_bytes;
  const auto* vbase = static_cast<const uint8_t*>(a.v) + static_cast<size_t>(kvh) * a.v_head_bytes;
  constexpr int kChunks = D / 8;
  for (int64_t tile0 = begin; tile0 < end; tile0 += kTile) {
    __syncthreads();  // the previous tile is consumed
    // K: consecutive threads along a row (coalesced reads, 16-byte shared stores).
    for (int u = threadIdx.x; u < kTile * kChunks; u += blockDim.x) {
      const int cell = u / kChunks;
      const int e = (u % kChunks) * 8;
      const int64_t cc = tile0 + cell;
      float kv[8];
      if (cc < end) {
        decode_any(a.k_type, a.k_aligned, kbase + static_cast<size_t>(cc) * a.k_stride, e, kv);
      } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) kv[i] = 0.f;
      }
      uint4 packed;
      packed.x = pack_half2(kv[0], kv[1]);
      packed.y = pack_half2(kv[2], kv[3]);
      packed.z = pack_half2(kv[4], kv[5]);
      packed.w = pack_half2(kv[6], kv[7]);
      *reinterpret_cast<uint4*>(ks + cell * (D + kPad) + e) = packed;
    }
    // V, transposed: consecutive threads take consecutive cells, so the 2-byte shared stores
    // of a warp fall into distinct banks.
    for (int u = threadIdx.x; u < kTile * kChunks; u += blockDim.x) {
      const int cell = u % kTile;
      const int e = (u / kTile) * 8;
      const int64_t cc = tile0 + cell;
      float vv[8];
      if (cc < end) {
        decode_any(a.v_type, a.v_aligned, vbase + static_cast<size_t>(cc) * a.v_stride, e, vv);
      } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) vv[i] = 0.f;
      }
#pragma unroll
      for (int i = 0; i < 8; ++i) vt[(e + i) * (kTile + kPad) + cell] = __float2half_rn(vv[i]);
    }
    __syncthreads();
    if (warp_max_pos < tile0) continue;  // every row of this warp is before the tile (warp-uniform)

    // Scores: 8 n-tiles of 8 cells.
    float s[kTile / 8][4];
#pragma unroll
    for (int j = 0; j < kTile / 8; ++j) {
      s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
      const __half* krow = ks + (j * 8 + g) * (D + kPad) + 2 * c;
#pragma unroll
      for (int st = 0; st < kSteps; ++st) {
        const uint32_t b0 = *reinterpret_cast<const uint32_t*>(krow + st * 16);
        const uint32_t b1 = *reinterpret_cast<const uint32_t*>(krow + st * 16 + 8);
        mma16816(s[j], qa[st], b0, b1);
      }
    }
    // Causal mask and the tile's row maxima (rows g and g + 8; a quad holds one row's 64 cells).
    float tmax_lo = -INFINITY, tmax_hi = -INFINITY;
#pragma unroll
    for (int j = 0; j < kTile / 8; ++j) {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int64_t cell = tile0 + j * 8 + 2 * c + i;
        if (cell > pos_lo || cell >= end) s[j][i] = -INFINITY;
        if (cell > pos_hi || cell >= end) s[j][2 + i] = -INFINITY;
        tmax_lo = fmaxf(tmax_lo, s[j][i]);
        tmax_hi = fmaxf(tmax_hi, s[j][2 + i]);
      }
    }
#pragma unroll
    for (int off = 1; off <= 2; off <<= 1) {
      tmax_lo = fmaxf(tmax_lo, __shfl_xor_sync(0xFFFFFFFFu, tmax_lo, off));
      tmax_hi = fmaxf(tmax_hi, __shfl_xor_sync(0xFFFFFFFFu, tmax_hi, off));
    }
    const float mn_lo = fmaxf(m_lo, tmax_lo), mn_hi = fmaxf(m_hi, tmax_hi);
    // A row with no cell so far keeps m = -inf: nothing to rescale, every p is 0.
    const float corr_lo = mn_lo == -INFINITY ? 1.f : expf(m_lo - mn_lo);
    const float corr_hi = mn_hi == -INFINITY ? 1.f : expf(m_hi - mn_hi);
    m_lo = mn_lo;
    m_hi = mn_hi;
    float sum_lo = 0.f, sum_hi = 0.f;
#pragma unroll
    for (int j = 0; j < kTile / 8; ++j) {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        s[j][i] = s[j][i] == -INFINITY ? 0.f : expf(s[j][i] - mn_lo);
        s[j][2 + i] = s[j][2 + i] == -INFINITY ? 0.f : expf(s[j][2 + i] - mn_hi);
        sum_lo += s[j][i];
        sum_hi += s[j][2 + i];
      }
    }
    l_lo = l_lo * corr_lo + sum_lo;  // this thread's share; the quad sums at the end
    l_hi = l_hi * corr_hi + sum_hi;
#pragma unroll
    for (int n = 0; n < kOut; ++n) {
      o[n][0] *= corr_lo;
      o[n][1] *= corr_lo;
      o[n][2] *= corr_hi;
      o[n][3] *= corr_hi;
    }
    // O += P V: P's C fragments of two adjacent n-tiles are the A fragment of one k-step.
#pragma unroll
    for (int kk = 0; kk < kTile / 16; ++kk) {
      uint32_t pa[4];
      pa[0] = pack_half2(s[2 * kk][0], s[2 * kk][1]);
      pa[1] = pack_half2(s[2 * kk][2], s[2 * kk][3]);
      pa[2] = pack_half2(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      pa[3] = pack_half2(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int n = 0; n < kOut; ++n) {
        const __half* vrow = vt + (n * 8 + g) * (kTile + kPad) + kk * 16 + 2 * c;
        const uint32_t b0 = *reinterpret_cast<const uint32_t*>(vrow);
        const uint32_t b1 = *reinterpret_cast<const uint32_t*>(vrow + 8);
        mma16816(o[n], pa, b0, b1);
      }
    }
  }

#pragma unroll
  for (int off = 1; off <= 2; off <<= 1) {
    l_lo += __shfl_xor_sync(0xFFFFFFFFu, l_lo, off);
    l_hi += __shfl_xor_sync(0xFFFFFFFFu, l_hi, off);
  }
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = wrow + g + 8 * half;
    if (r >= n_rows) continue;
    const int t = r / group;
    const int h = kvh * group + r % group;
    const float l = half == 0 ? l_lo : l_hi;
    const float m = half == 0 ? m_lo : m_hi;
    if (a.n_splits == 1) {
      float* out = a.out + t * a.out_stride + static_cast<int64_t>(h) * D;
      const float inv = 1.f / l;
#pragma unroll
      for (int n = 0; n < kOut; ++n) {
        out[n * 8 + 2 * c] = o[n][2 * half] * inv;
        out[n * 8 + 2 * c + 1] = o[n][2 * half + 1] * inv;
      }
    } else {
      const int64_t slot = (static_cast<int64_t>(blockIdx.z) * a.n_tokens + t) * a.n_head + h;
      float* p = a.partials + slot * (D + 2);
#pragma unroll
      for (int n = 0; n < kOut; ++n) {
        p[n * 8 + 2 * c] = o[n][2 * half];
        p[n * 8 + 2 * c + 1] = o[n][2 * half + 1];
      }
      if (c == 0) {
        p[D] = m;
        p[D + 1] = l;
      }
    }
  }
}

template <int D>
cudaError_t launch_dim(const AttentionLaunch& a, cudaStream_t stream) {
  constexpr size_t kSmem = smem_bytes<D>();
  cudaError_t err = cudaFuncSetAttribute(attention_mma_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(kSmem));
  if (err != cudaSuccess) return err;
  const int64_t rows = static_cast<int64_t>(a.n_tokens) * (a.n_head / a.n_head_kv);
  const dim3 grid(static_cast<unsigned>((rows + kRows - 1) / kRows), static_cast<unsigned>(a.n_head_kv),
                  static_cast<unsigned>(a.n_splits));
  err = launch_dependent(attention_mma_kernel<D>, grid, kWarps * 32, kSmem, stream, a);
  if (err != cudaSuccess || a.n_splits == 1) return err;
  return launch_attention_combine(a, stream);
}

}  // namespace

bool attention_mma_eligible(const AttentionLaunch& a) {
  const bool dim = a.head_dim == 64 || a.head_dim == 80 || a.head_dim == 96 || a.head_dim == 112 ||
                   a.head_dim == 128;
  return dim && a.n_tokens >= kMinMmaTokens;
}

int attention_mma_splits(const AttentionLaunch& a, int n_sms) {
  const int64_t rows = static_cast<int64_t>(a.n_tokens) * (a.n_head / a.n_head_kv);
  const int64_t blocks = (rows + kRows - 1) / kRows * a.n_head_kv;
  // About two waves of blocks; each split keeps at least kMinSplitCells cells.
  const int64_t wanted = (2 * static_cast<int64_t>(n_sms) + blocks - 1) / blocks;
  const int64_t by_length = (a.kv_extent + kMinSplitCells - 1) / kMinSplitCells;
  int64_t n = wanted < by_length ? wanted : by_length;
  if (n > kMaxSplits) n = kMaxSplits;
  return n < 1 ? 1 : static_cast<int>(n);
}

cudaError_t launch_attention_mma(const AttentionLaunch& a, cudaStream_t stream) {
  if (a.n_tokens <= 0) return cudaSuccess;
  return with_head_dim(a.head_dim, [&](auto d) -> cudaError_t {
    if constexpr (decltype(d)::value > 128) {
      return cudaErrorInvalidValue;  // attention_mma_eligible: head dims up to 128
    } else {
      return launch_dim<decltype(d)::value>(a, stream);
    }
  });
}

}  // namespace strata::backend::cuda
