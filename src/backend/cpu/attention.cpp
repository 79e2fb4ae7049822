// Attention driver: argument checks, work split over (kv head, query block, kv range), the
// flash and plain loops over K/V tiles, and the merge of split partial softmax states.
//
// A task works on the rows of one kv head: every query head of its group for a block of query
// tokens. Each K or V tile is converted once by its type's tile loader into an f32 tile and
// shared by all those rows, so a cache byte is read once per task, whatever the type, and the
// arithmetic after loading is the same code for every K/V pair. Decode-sized batches (few
// rows per kv head) make one task cover every kv head of a kv range instead, so that whole
// cache rows stream from memory, and threads split the range (flash-decoding).
#include "backend/cpu/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <new>
#include <vector>

#include "backend/cpu/attention_kernels.h"
#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/kv_rows.h"
#include "backend/cpu/kv_rows_isa.h"

namespace strata::backend::cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int kTargetRows = 128;       // query rows per task (tokens x heads of a group)
constexpr int kDecodeRows = 16;        // below this many rows per kv head a task takes every kv head
constexpr int64_t kMinSplitCells = 512;  // a kv split is worth its merge only above this
constexpr int64_t kPlainScoreFloats = int64_t{1} << 22;
constexpr size_t kMaxLanes = 16;  // widest transposed layout (AVX-512)
// Per-thread scratch bound (1 GiB): only the plain path's whole score rows can get there.
constexpr size_t kMaxThreadFloats = size_t{1} << 28;

// 64-byte aligned float storage that only grows.
class FloatBuffer {
 public:
  FloatBuffer() = default;
  FloatBuffer(FloatBuffer&& other) noexcept : data_(other.data_), size_(other.size_) {
    other.data_ = nullptr;
    other.size_ = 0;
  }
  FloatBuffer& operator=(FloatBuffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    return *this;
  }
  FloatBuffer(const FloatBuffer&) = delete;
  FloatBuffer& operator=(const FloatBuffer&) = delete;
  ~FloatBuffer() { release(); }

  float* reserve(size_t n) {
    if (n > size_) {
      release();
      data_ = static_cast<float*>(::operator new(n * sizeof(float), std::align_val_t{64}));
      size_ = n;
    }
    return data_;
  }
  size_t bytes() const { return size_ * sizeof(float); }

 private:
  void release() {
    if (data_ != nullptr) ::operator delete(data_, std::align_val_t{64});
    data_ = nullptr;
    size_ = 0;
  }
  float* data_ = nullptr;
  size_t size_ = 0;
};

size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

}  // namespace

struct AttentionScratch::Buffers {
  std::vector<FloatBuffer> threads;
  std::vector<std::vector<int>> valid;
  FloatBuffer partial;
};

AttentionScratch::AttentionScratch() : buffers_(std::make_unique<Buffers>()) {}
AttentionScratch::~AttentionScratch() = default;
AttentionScratch::AttentionScratch(AttentionScratch&&) noexcept = default;
AttentionScratch& AttentionScratch::operator=(AttentionScratch&&) noexcept = default;

size_t AttentionScratch::bytes() const {
  size_t total = buffers_->partial.bytes();
  for (const FloatBuffer& b : buffers_->threads) total += b.bytes();
  for (const auto& v : buffers_->valid) total += v.capacity() * sizeof(int);
  return total;
}

namespace {

// How a call is cut into tasks, and the per-thread buffer layout that follows.
struct Plan {
  int group = 1;           // query heads per kv head
  int heads = 1;           // kv heads per task: 1, or all of them for decode-sized batches
  int64_t block_tokens = 1;
  int64_t n_blocks = 1;
  int n_splits = 1;
  int64_t split_cells = 0;  // kv cells per split (a multiple of tile)
  int tile = 64;
  int rows = 1;            // block_tokens * group
  int64_t ld_s = 0;        // score row length: tile (flash) or the longest row (plain)
  // Offsets (floats) into a thread's buffer.
  size_t off_q = 0, off_o = 0, off_k = 0, off_v = 0, off_s = 0, off_m = 0, off_l = 0, off_c = 0;
  size_t thread_floats = 0;
  size_t slot_floats = 0;  // one partial state: m, l, O for `rows` rows

  int64_t n_tasks(int n_head_kv) const {
    return static_cast<int64_t>(n_head_kv / heads) * n_blocks * n_splits;
  }
};

struct Ctx {
  const AttentionArgs* a;
  const detail::AttnKernels* kern;
  detail::KvTileLoader load_k;
  detail::KvTileLoader load_v;
  size_t k_head_bytes;
  size_t v_head_bytes;
  int64_t q_stride;
  int64_t out_stride;
  Plan plan;
};

Plan make_plan(const AttentionArgs& a, int64_t kv_extent, size_t n_threads) {
  Plan p;
  p.group = a.n_head / a.n_head_kv;
  const int hd = a.head_dim;
  p.tile = hd > 128 ? 32 : 64;
  p.block_tokens = std::max<int64_t>(1, kTargetRows / p.group);
  // Enough blocks that every thread gets work when the batch is short.
  const int64_t want_tasks = static_cast<int64_t>(2 * n_threads);
  const int64_t blocks_needed = (want_tasks + a.n_head_kv - 1) / a.n_head_kv;
  if (blocks_needed > 1) {
    p.block_tokens = std::min(p.block_tokens, std::max<int64_t>(1, (a.n_tokens + blocks_needed - 1) / blocks_needed));
  }
  p.block_tokens = std::min(p.block_tokens, a.n_tokens);
  if (!a.flash) {
    // The plain path keeps every score of a block: bound that to ~16 MiB per thread.
    const int64_t row_cells = static_cast<int64_t>(round_up(static_cast<size_t>(kv_extent), 64));
    p.block_tokens = std::min(p.block_tokens, std::max<int64_t>(1, kPlainScoreFloats / (p.group * row_cells)));
  }
  p.n_blocks = (a.n_tokens + p.block_tokens - 1) / p.block_tokens;
  p.rows = static_cast<int>(p.block_tokens) * p.group;

  p.split_cells = static_cast<int64_t>(round_up(static_cast<size_t>(kv_extent), static_cast<size_t>(p.tile)));
  if (a.flash) {
    // Few rows per kv head (decode) make a task memory-bound. A task of one kv head reads a
    // slice of every cache row, a strided pattern that streams from DRAM at a fraction of
    // the sequential rate; a task of all kv heads reads whole rows. Threads then split the
    // kv range instead (flash-decoding), when it is long enough to be worth the merge.
    const bool few_rows = p.block_tokens * p.group < kDecodeRows;
    const bool splittable = kv_extent >= kMinSplitCells * static_cast<int64_t>(n_threads);
    if (few_rows && a.n_head_kv > 1 && (n_threads == 1 || splittable)) p.heads = a.n_head_kv;
    const int64_t base = static_cast<int64_t>(a.n_head_kv / p.heads) * p.n_blocks;
    if (n_threads > 1 && base < want_tasks && kv_extent >= 2 * kMinSplitCells) {
      const int64_t splits = std::min((want_tasks + base - 1) / base, kv_extent / kMinSplitCells);
      p.split_cells = static_cast<int64_t>(
          round_up(static_cast<size_t>((kv_extent + splits - 1) / splits), static_cast<size_t>(p.tile)));
      p.n_splits = static_cast<int>((kv_extent + p.split_cells - 1) / p.split_cells);
    }
    p.ld_s = p.tile;
  } else {
    p.ld_s = static_cast<int64_t>(round_up(static_cast<size_t>(kv_extent), static_cast<size_t>(p.tile)));
  }

  const size_t rows = round_up(static_cast<size_t>(p.rows), kMaxLanes);  // transposed padding
  const size_t hdz = static_cast<size_t>(hd);
  const size_t tile = static_cast<size_t>(p.tile);
  size_t off = 0;
  auto take = [&off](size_t n) {
    const size_t at = off;
    off += round_up(n, 16);
    return at;
  };
  const size_t heads = static_cast<size_t>(p.heads);
  p.off_q = take(heads * rows * hdz);
  p.off_o = take(heads * rows * hdz);
  p.off_k = take(tile * hdz);
  p.off_v = take(tile * hdz);
  p.off_s = take(rows * static_cast<size_t>(p.ld_s));
  p.off_m = take(heads * rows);
  p.off_l = take(heads * rows);
  p.off_c = take(rows);
  p.thread_floats = off;
  p.slot_floats = rows * (hdz + 2);
  return p;
}

// The rows of task (g, block): Q scaled, causal limits, and the output location of each.
// Transposed tasks store Q as [hd][rows_pad] and pad the extra rows with zeros and limit 0.
struct TaskRows {
  int64_t t0 = 0;
  int n_tok = 0;
  int rows = 0;
  int rows_pad = 0;
  bool transposed = false;
  int64_t max_limit = 0;
};

TaskRows task_rows(const Ctx& c, int64_t block) {
  TaskRows t;
  t.t0 = block * c.plan.block_tokens;
  t.n_tok = static_cast<int>(std::min<int64_t>(c.plan.block_tokens, c.a->n_tokens - t.t0));
  t.rows = t.n_tok * c.plan.group;
  const int lanes = c.kern->lanes;
  t.transposed = lanes > 0 && t.rows >= lanes;
  t.rows_pad = t.transposed ? static_cast<int>(round_up(static_cast<size_t>(t.rows), static_cast<size_t>(lanes)))
                            : t.rows;
  return t;
}

TaskRows prepare_rows(const Ctx& c, int g, int64_t block, float* q, int* limit) {
  const AttentionArgs& a = *c.a;
  const int hd = a.head_dim;
  TaskRows t = task_rows(c, block);
  for (int i = 0; i < t.n_tok; ++i) {
    const int64_t tok = t.t0 + i;
    const int lim = a.pos[tok] + 1;
    t.max_limit = std::max<int64_t>(t.max_limit, lim);
    for (int j = 0; j < c.plan.group; ++j) {
      const int r = i * c.plan.group + j;
      const float* src = a.q + tok * c.q_stride + static_cast<int64_t>(g * c.plan.group + j) * hd;
      if (t.transposed) {
        for (int d = 0; d < hd; ++d) q[static_cast<int64_t>(d) * t.rows_pad + r] = src[d] * a.scale;
      } else {
        float* dst = q + static_cast<int64_t>(r) * hd;
        for (int d = 0; d < hd; ++d) dst[d] = src[d] * a.scale;
      }
      limit[r] = lim;
    }
  }
  for (int r = t.rows; r < t.rows_pad; ++r) {
    limit[r] = 0;
    for (int d = 0; d < hd; ++d) q[static_cast<int64_t>(d) * t.rows_pad + r] = 0.f;
  }
  return t;
}

void load_tile(detail::KvTileLoader load, const void* base, size_t stride, size_t head_offset, int64_t c0, int n,
               int hd, float* dst) {
  if (n <= 0) return;
  load(static_cast<const uint8_t*>(base) + head_offset + static_cast<size_t>(c0) * stride, stride, n, hd, dst);
}

// Asks for the head slices of cells [c0, c0 + n) ahead of use: a task reads one head of
// every row, a strided pattern the hardware prefetchers follow poorly.
void prefetch_tile(const void* base, size_t stride, size_t head_offset, size_t head_bytes, int64_t c0, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(base) + head_offset;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* row = p + static_cast<size_t>(c0 + i) * stride;
    for (size_t off = 0; off < head_bytes; off += 64) __builtin_prefetch(row + off);
    __builtin_prefetch(row + head_bytes - 1);
  }
}

void write_output(const Ctx& c, int g, const TaskRows& t, const float* o, const float* l) {
  const AttentionArgs& a = *c.a;
  const int hd = a.head_dim;
  for (int r = 0; r < t.rows; ++r) {
    const int i = r / c.plan.group;
    const int j = r % c.plan.group;
    float* dst = a.out + (t.t0 + i) * c.out_stride + static_cast<int64_t>(g * c.plan.group + j) * hd;
    const float inv = 1.f / l[r];
    const float* src = o + static_cast<int64_t>(r) * hd;
    for (int d = 0; d < hd; ++d) dst[d] = src[d] * inv;
  }
}

// Partial state slot of (kv head g, block, split); merge_splits reads a group's splits in a row.
size_t slot_index(const Ctx& c, int g, int64_t block, int split) {
  const int64_t group_index = (c.plan.n_blocks - 1 - block) * c.a->n_head_kv + g;
  return static_cast<size_t>(group_index * c.plan.n_splits + split);
}

void run_flash_task(const Ctx& c, int64_t task, float* buf, int* valid, float* partial) {
  const AttentionArgs& a = *c.a;
  const Plan& p = c.plan;
  const int hd = a.head_dim;
  const int split = static_cast<int>(task % p.n_splits);
  const int64_t rest = task / p.n_splits;
  const int n_tasks_g = a.n_head_kv / p.heads;
  const int g0 = static_cast<int>(rest % n_tasks_g) * p.heads;
  const int64_t block = p.n_blocks - 1 - rest / n_tasks_g;  // longest rows first

  int* limit = valid + round_up(static_cast<size_t>(p.rows), kMaxLanes);
  float* kt = buf + p.off_k;
  float* vt = buf + p.off_v;
  float* s = buf + p.off_s;
  float* corr = buf + p.off_c;
  // Per kv head of the task: Q rows, output rows, running max and sum.
  const size_t q_size = round_up(static_cast<size_t>(p.rows), kMaxLanes) * static_cast<size_t>(hd);
  const size_t ml_size = round_up(static_cast<size_t>(p.rows), kMaxLanes);
  auto q_of = [&](int h) { return buf + p.off_q + static_cast<size_t>(h) * q_size; };
  auto o_of = [&](int h) { return buf + p.off_o + static_cast<size_t>(h) * q_size; };
  auto m_of = [&](int h) { return buf + p.off_m + static_cast<size_t>(h) * ml_size; };
  auto l_of = [&](int h) { return buf + p.off_l + static_cast<size_t>(h) * ml_size; };

  TaskRows t;
  for (int h = 0; h < p.heads; ++h) {
    t = prepare_rows(c, g0 + h, block, q_of(h), limit);
    std::fill(m_of(h), m_of(h) + t.rows_pad, kNegInf);
    std::fill(l_of(h), l_of(h) + t.rows_pad, 0.f);
    std::fill(o_of(h), o_of(h) + static_cast<int64_t>(t.rows) * hd, 0.f);
  }
  // Weights are P[r * p_rs + c * p_cs] in either layout.
  const int64_t p_rs = t.transposed ? 1 : p.tile;
  const int64_t p_cs = t.transposed ? t.rows_pad : 1;

  const int64_t k_begin = static_cast<int64_t>(split) * p.split_cells;
  const int64_t k_end = std::min(k_begin + p.split_cells, t.max_limit);
  for (int64_t c0 = k_begin; c0 < k_end; c0 += p.tile) {
    const int n = static_cast<int>(std::min<int64_t>(p.tile, k_end - c0));
    const int64_t n_next = std::min<int64_t>(p.tile, k_end - c0 - n);
    int n_used = 0;
    for (int r = 0; r < t.rows_pad; ++r) {
      valid[r] = static_cast<int>(std::clamp<int64_t>(limit[r] - c0, 0, n));
      n_used = std::max(n_used, valid[r]);
    }
    for (int h = 0; h < p.heads; ++h) {
      const int g = g0 + h;
      const size_t k_off = static_cast<size_t>(g) * c.k_head_bytes;
      const size_t v_off = static_cast<size_t>(g) * c.v_head_bytes;
      float* q = q_of(h);
      float* o = o_of(h);
      load_tile(c.load_k, a.k, a.k_stride, k_off, c0, n, hd, kt);
      if (n_next > 0) prefetch_tile(a.k, a.k_stride, k_off, c.k_head_bytes, c0 + n, n_next);
      if (t.transposed) {
        c.kern->qk_t(q, t.rows_pad, kt, n, hd, s);
        c.kern->softmax_tile_t(s, t.rows_pad, n, valid, m_of(h), l_of(h), corr);
      } else {
        c.kern->qk(q, t.rows, kt, n, hd, s, p.tile);
        c.kern->softmax_tile(s, p.tile, t.rows, n, valid, m_of(h), l_of(h), corr);
      }
      for (int r = 0; r < t.rows; ++r) {
        if (corr[r] == 1.f) continue;
        float* orow = o + static_cast<int64_t>(r) * hd;
        for (int d = 0; d < hd; ++d) orow[d] *= corr[r];
      }
      load_tile(c.load_v, a.v, a.v_stride, v_off, c0, n_used, hd, vt);
      if (n_next > 0) prefetch_tile(a.v, a.v_stride, v_off, c.v_head_bytes, c0 + n, n_next);
      c.kern->pv(s, p_rs, p_cs, t.rows, vt, n_used, hd, o, hd);
    }
  }

  for (int h = 0; h < p.heads; ++h) {
    const int g = g0 + h;
    if (p.n_splits == 1) {
      write_output(c, g, t, o_of(h), l_of(h));
      continue;
    }
    float* dst = partial + slot_index(c, g, block, split) * p.slot_floats;
    std::copy(m_of(h), m_of(h) + t.rows, dst);
    std::copy(l_of(h), l_of(h) + t.rows, dst + p.rows);
    std::copy(o_of(h), o_of(h) + static_cast<int64_t>(t.rows) * hd, dst + 2 * p.rows);
  }
}

// Combines the split states of task group (g, block): rescale each to the common max.
void merge_splits(const Ctx& c, int64_t group_index, float* buf, const float* partial) {
  const AttentionArgs& a = *c.a;
  const Plan& p = c.plan;
  const int hd = a.head_dim;
  const int g = static_cast<int>(group_index % a.n_head_kv);
  const int64_t block = p.n_blocks - 1 - group_index / a.n_head_kv;
  const TaskRows t = task_rows(c, block);
  float* o = buf + p.off_o;
  float* l = buf + p.off_l;
  const float* first = partial + slot_index(c, g, block, 0) * p.slot_floats;
  for (int r = 0; r < t.rows; ++r) {
    float mx = kNegInf;
    for (int sp = 0; sp < p.n_splits; ++sp) mx = std::max(mx, first[sp * p.slot_floats + r]);
    float* orow = o + static_cast<int64_t>(r) * hd;
    std::fill(orow, orow + hd, 0.f);
    float sum = 0.f;
    for (int sp = 0; sp < p.n_splits; ++sp) {
      const float* slot = first + sp * p.slot_floats;
      if (slot[r] == kNegInf) continue;  // this split held no cell of the row
      const float w = std::exp(slot[r] - mx);
      sum += slot[p.rows + r] * w;
      const float* src = slot + 2 * p.rows + static_cast<int64_t>(r) * hd;
      for (int d = 0; d < hd; ++d) orow[d] += src[d] * w;
    }
    l[r] = sum;
  }
  write_output(c, g, t, o, l);
}

void run_plain_task(const Ctx& c, int64_t task, float* buf, int* valid) {
  const AttentionArgs& a = *c.a;
  const Plan& p = c.plan;
  const int hd = a.head_dim;
  const int g = static_cast<int>(task % a.n_head_kv);
  const int64_t block = p.n_blocks - 1 - task / a.n_head_kv;

  float* q = buf + p.off_q;
  float* o = buf + p.off_o;
  float* kt = buf + p.off_k;
  float* vt = buf + p.off_v;
  float* s = buf + p.off_s;
  float* l = buf + p.off_l;
  int* limit = valid + round_up(static_cast<size_t>(p.rows), kMaxLanes);

  const TaskRows t = prepare_rows(c, g, block, q, limit);
  const int64_t k_end = t.max_limit;
  const size_t k_off = static_cast<size_t>(g) * c.k_head_bytes;
  const size_t v_off = static_cast<size_t>(g) * c.v_head_bytes;
  const int ld_s = static_cast<int>(p.ld_s);

  // Every score of the rows first, then an exact softmax per row, then the weighted V sum.
  for (int64_t c0 = 0; c0 < k_end; c0 += p.tile) {
    const int n = static_cast<int>(std::min<int64_t>(p.tile, k_end - c0));
    load_tile(c.load_k, a.k, a.k_stride, k_off, c0, n, hd, kt);
    if (t.transposed) {
      c.kern->qk_t(q, t.rows_pad, kt, n, hd, s + c0 * t.rows_pad);
    } else {
      c.kern->qk(q, t.rows, kt, n, hd, s + c0, ld_s);
    }
  }
  if (t.transposed) {
    c.kern->softmax_rows_t(s, t.rows_pad, static_cast<int>(k_end), limit, l);
  } else {
    for (int r = 0; r < t.rows; ++r) {
      float* row = s + static_cast<int64_t>(r) * ld_s;
      const int n = limit[r];
      l[r] = c.kern->exp_sum(row, n, c.kern->max_of(row, n));
      std::fill(row + n, row + k_end, 0.f);
    }
  }
  const int64_t p_rs = t.transposed ? 1 : ld_s;
  const int64_t p_cs = t.transposed ? t.rows_pad : 1;
  std::fill(o, o + static_cast<int64_t>(t.rows) * hd, 0.f);
  for (int64_t c0 = 0; c0 < k_end; c0 += p.tile) {
    const int n = static_cast<int>(std::min<int64_t>(p.tile, k_end - c0));
    load_tile(c.load_v, a.v, a.v_stride, v_off, c0, n, hd, vt);
    c.kern->pv(s + c0 * p_cs, p_rs, p_cs, t.rows, vt, n, hd, o, hd);
  }
  write_output(c, g, t, o, l);
}

const detail::AttnKernels& kernels_for(Isa isa) {
  const detail::AttnKernels* k = nullptr;
  if (isa == Isa::kAvx512) k = detail::attn_kernels_avx512();
  if (k == nullptr && isa != Isa::kScalar) k = detail::attn_kernels_avx2();
  return k != nullptr ? *k : detail::attn_kernels_scalar();
}

Status check_args(const AttentionArgs& a, int64_t& kv_extent) {
  STRATA_TRY(check_attention_types(a.k_type, a.v_type, a.head_dim));
  if (a.n_head <= 0 || a.n_head_kv <= 0 || a.n_head % a.n_head_kv != 0) {
    return invalid_argument("attention: {} query heads cannot share {} kv heads; n_head must be a positive multiple "
                            "of n_head_kv",
                            a.n_head, a.n_head_kv);
  }
  if (a.n_tokens < 0) return invalid_argument("attention: negative token count {}", a.n_tokens);
  if (a.n_kv < 1 || a.n_kv > std::numeric_limits<int32_t>::max()) {
    return invalid_argument("attention: {} filled KV cells; need between 1 and {} (a token attends at least its "
                            "own cell)",
                            a.n_kv, std::numeric_limits<int32_t>::max());
  }
  if (!std::isfinite(a.scale)) return invalid_argument("attention: scale {} is not finite", a.scale);
  const int64_t width = static_cast<int64_t>(a.n_head) * a.head_dim;
  if (a.q_stride != 0 && a.q_stride < width) {
    return invalid_argument("attention: query stride {} floats is shorter than {} heads x {}", a.q_stride, a.n_head,
                            a.head_dim);
  }
  if (a.out_stride != 0 && a.out_stride < width) {
    return invalid_argument("attention: output stride {} floats is shorter than {} heads x {}", a.out_stride,
                            a.n_head, a.head_dim);
  }
  const uint64_t k_row = quant::row_bytes(a.k_type, static_cast<uint64_t>(a.head_dim)).value() * a.n_head_kv;
  const uint64_t v_row = quant::row_bytes(a.v_type, static_cast<uint64_t>(a.head_dim)).value() * a.n_head_kv;
  if (a.n_kv > 1 && (a.k_stride < k_row || a.v_stride < v_row)) {
    return invalid_argument("attention: cell strides K {} / V {} bytes are shorter than the rows ({} x {} {} = {} "
                            "bytes, {} x {} {} = {} bytes)",
                            a.k_stride, a.v_stride, a.n_head_kv, a.head_dim, quant::type_name(a.k_type), k_row,
                            a.n_head_kv, a.head_dim, quant::type_name(a.v_type), v_row);
  }
  if (a.n_tokens == 0) return {};
  if (a.q == nullptr || a.pos == nullptr || a.k == nullptr || a.v == nullptr || a.out == nullptr) {
    return invalid_argument("attention: null query, position, K, V or output pointer");
  }
  kv_extent = 0;
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    if (a.pos[t] < 0 || a.pos[t] >= a.n_kv) {
      return invalid_argument("attention: token {} is at cell {}, outside the {} filled cells (0..{})", t, a.pos[t],
                              a.n_kv, a.n_kv - 1);
    }
    kv_extent = std::max<int64_t>(kv_extent, a.pos[t] + 1);
  }
  return {};
}

}  // namespace

Status check_attention_types(quant::Type k_type, quant::Type v_type, int head_dim) {
  STRATA_TRY(check_kv_type("K", k_type, head_dim));
  STRATA_TRY(check_kv_type("V", v_type, head_dim));
  return {};
}

Status attention(const AttentionArgs& args, ThreadPool& pool, AttentionScratch& scratch) {
  int64_t kv_extent = 0;
  STRATA_TRY(check_args(args, kv_extent));
  if (args.n_tokens == 0) return {};

  const Isa isa = active_isa();
  Ctx c;
  c.a = &args;
  c.kern = &kernels_for(isa);
  c.load_k = detail::kv_tile_loader(args.k_type, isa);
  c.load_v = detail::kv_tile_loader(args.v_type, isa);
  c.k_head_bytes = quant::row_bytes(args.k_type, static_cast<uint64_t>(args.head_dim)).value();
  c.v_head_bytes = quant::row_bytes(args.v_type, static_cast<uint64_t>(args.head_dim)).value();
  const int64_t width = static_cast<int64_t>(args.n_head) * args.head_dim;
  c.q_stride = args.q_stride != 0 ? args.q_stride : width;
  c.out_stride = args.out_stride != 0 ? args.out_stride : width;
  const size_t n_threads = pool.size();
  c.plan = make_plan(args, kv_extent, n_threads);
  const Plan& p = c.plan;

  if (p.thread_floats > kMaxThreadFloats) {
    return resource_exhausted("attention: the {} path would need {} MiB of scores per thread for {} cells x {} "
                              "heads per kv head; use flash attention",
                              args.flash ? "flash" : "plain", p.thread_floats * sizeof(float) >> 20, kv_extent,
                              p.group);
  }
  AttentionScratch::Buffers& b = scratch.buffers();
  const int64_t n_tasks = p.n_tasks(args.n_head_kv);
  float* partial = nullptr;
  try {
    if (b.threads.size() < n_threads) b.threads.resize(n_threads);
    if (b.valid.size() < n_threads) b.valid.resize(n_threads);
    for (size_t i = 0; i < n_threads; ++i) {
      b.threads[i].reserve(p.thread_floats);
      const size_t n_valid = 2 * round_up(static_cast<size_t>(p.rows), kMaxLanes);
      if (b.valid[i].size() < n_valid) b.valid[i].resize(n_valid);
    }
    const size_t n_slots = static_cast<size_t>(args.n_head_kv) * static_cast<size_t>(p.n_blocks * p.n_splits);
    if (p.n_splits > 1) partial = b.partial.reserve(n_slots * p.slot_floats);
  } catch (const std::bad_alloc&) {
    return resource_exhausted("attention: out of memory for {} threads' scratch ({} MiB each)", n_threads,
                              p.thread_floats * sizeof(float) >> 20);
  }

  std::atomic<int64_t> next{0};
  pool.run_on_all([&](size_t thread, size_t) {
    float* buf = b.threads[thread].reserve(0);
    int* valid = b.valid[thread].data();
    for (int64_t task = next.fetch_add(1); task < n_tasks; task = next.fetch_add(1)) {
      if (args.flash) {
        run_flash_task(c, task, buf, valid, partial);
      } else {
        run_plain_task(c, task, buf, valid);
      }
    }
  });
  if (p.n_splits > 1) {
    const int64_t n_groups = static_cast<int64_t>(args.n_head_kv) * p.n_blocks;
    std::atomic<int64_t> next_group{0};
    pool.run_on_all([&](size_t thread, size_t) {
      float* buf = b.threads[thread].reserve(0);
      for (int64_t gi = next_group.fetch_add(1); gi < n_groups; gi = next_group.fetch_add(1)) {
        merge_splits(c, gi, buf, partial);
      }
    });
  }
  return {};
}

}  // namespace strata::backend::cpu
