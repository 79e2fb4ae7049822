// Random valid blocks written directly in each block format (no float quantization), so
// synthetic models are written at memory speed. Each format picks its block scales so that
// dequantized values stay inside [-scale, scale], are symmetric around 0 and roughly
// uniform; the per-block scale also varies a little (factor 0.875..1) so that kernels that
// mix up blocks still produce visibly wrong results in tests.
#include "quant/random_blocks.h"

#include <cmath>
#include <cstring>

#include "core/half.h"
#include "quant/blocks.h"
#include "quant/half_row.h"

namespace strata::quant {
namespace {

// SplitMix64: tiny, fast, and good enough for test weights.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed ^ 0x6A09E667F3BCC909ull) { next(); }
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // n must be a multiple of 8.
  void bytes(uint8_t* out, int n) {
    for (int i = 0; i < n; i += 8) {
      const uint64_t v = next();
      std::memcpy(out + i, &v, 8);
    }
  }

 private:
  uint64_t state_;
};

// fp16 of a positive value, rounded down so a block never exceeds its target range.
uint16_t half_at_most(float v) {
  uint16_t h = fp32_to_fp16(v);
  if (fp16_to_fp32(h) > v && h > 0) --h;
  return h;
}

// Block scales of a row: fp16 values in [0.875, 1] x (range / divisor), rounded down so a
// block never exceeds the range. Picked in fp16 bit space: positive halves order like ints.
struct RowScale {
  float s = 0.f;         // the value range [-s, s]
  uint16_t d_hi = 0;     // largest block scale
  uint32_t d_span = 1;   // number of block scales to pick from

  static RowScale make(float s, float divisor) {
    RowScale r;
    r.s = s;
    if (divisor <= 0.f) return r;
    r.d_hi = half_at_most(s / divisor);
    uint16_t lo = fp32_to_fp16(0.875f * s / divisor);
    if (fp16_to_fp32(lo) < 0.875f * s / divisor) ++lo;
    if (lo == 0) lo = 1;
    r.d_span = r.d_hi >= lo ? static_cast<uint32_t>(r.d_hi - lo) + 1 : 1;
    return r;
  }
  uint16_t block_d(Rng& rng) const {
    const auto r16 = static_cast<uint32_t>(rng.next() & 0xFFFF);
    return static_cast<uint16_t>(d_hi - ((r16 * d_span) >> 16));
  }
};

// Uniform integer in [0, n) from the top bits of a random byte (n <= 256).
inline uint8_t byte_below(uint8_t b, int n) { return static_cast<uint8_t>((b * n) >> 8); }

// iq4 levels are not evenly spaced; drawing index k with probability proportional to the
// width of its rounding cell within [-127, 127] makes the values roughly uniform with mean ~0.
constexpr int kLevelCounts[16] = {12, 22, 19, 17, 15, 14, 12, 12, 11, 12, 13, 14, 16, 19, 22, 26};
constexpr int level_count_sum() {
  int sum = 0;
  for (int c : kLevelCounts) sum += c;
  return sum;
}
static_assert(level_count_sum() == 256, "each random byte must map to one level");

struct LevelPicker {
  uint8_t index[256];
};
constexpr LevelPicker make_level_picker() {
  LevelPicker p{};
  int slot = 0;
  for (int k = 0; k < 16; ++k) {
    for (int c = 0; c < kLevelCounts[k]; ++c) p.index[slot++] = static_cast<uint8_t>(k);
  }
  return p;
}
constexpr LevelPicker kPicker = make_level_picker();

// Block scales (and offsets, at most `scale` itself) are fp16: the range must neither
// overflow it nor make the smallest block scale underflow to zero.
Status check_fp16_scale(Type type, float scale, float divisor) {
  constexpr float kMinHalf = 0x1p-24f;
  constexpr float kMaxHalf = 65504.f;
  const float min_scale = kMinHalf * divisor / 0.875f;
  if (!(scale * 0.875f / divisor >= kMinHalf) || !(scale <= kMaxHalf)) {
    return invalid_argument("random {} blocks cannot span [-{}, {}]: their fp16 block scales would {}; use a scale "
                            "between {} and {}",
                            type_name(type), scale, scale, scale > kMaxHalf ? "overflow" : "underflow to zero",
                            min_scale, kMaxHalf);
  }
  return {};
}

// Raw nibble 0 is replaced by 8 (value 0): q - 8 then spans -7..7 symmetrically.
void random_q4_0(Rng& rng, const RowScale& rs, BlockQ4_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    y[i].d = rs.block_d(rng);
    rng.bytes(y[i].qs, 16);
    for (int j = 0; j < 16; ++j) {
      int lo = y[i].qs[j] & 0xF;
      int hi = y[i].qs[j] >> 4;
      lo = lo == 0 ? 8 : lo;
      hi = hi == 0 ? 8 : hi;
      y[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void random_q4_1(Rng& rng, const RowScale& rs, BlockQ4_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    y[i].d = rs.block_d(rng);
    y[i].m = detail::float_to_half_fast(-7.5f * detail::half_to_float_fast(y[i].d));
    rng.bytes(y[i].qs, 16);
  }
}

// As q4_0: raw 5-bit 0 becomes 16 (value 0), so q - 16 spans -15..15.
void random_q5_0(Rng& rng, const RowScale& rs, BlockQ5_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    y[i].d = rs.block_d(rng);
    rng.bytes(y[i].qs, 16);
    uint32_t zero_nibbles = 0;
    for (int j = 0; j < 16; ++j) {
      zero_nibbles |= static_cast<uint32_t>((y[i].qs[j] & 0xF) == 0) << j;
      zero_nibbles |= static_cast<uint32_t>((y[i].qs[j] >> 4) == 0) << (j + 16);
    }
    // Setting the fifth bit of a zero nibble turns 0 into 16 (and leaves 16 as it is).
    const uint32_t qh = static_cast<uint32_t>(rng.next()) | zero_nibbles;
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void random_q5_1(Rng& rng, const RowScale& rs, BlockQ5_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    y[i].d = rs.block_d(rng);
    y[i].m = detail::float_to_half_fast(-15.5f * detail::half_to_float_fast(y[i].d));
    const uint64_t h = rng.next();
    std::memcpy(y[i].qh, &h, 4);
    rng.bytes(y[i].qs, 16);
  }
}

// Byte -128 becomes 0, so the quants span -127..127 symmetrically.
void random_q8_0(Rng& rng, const RowScale& rs, BlockQ8_0* y, int64_t nb) {
  uint8_t r[32];
  for (int64_t i = 0; i < nb; ++i) {
    y[i].d = rs.block_d(rng);
    rng.bytes(r, 32);
    for (int j = 0; j < 32; ++j) y[i].qs[j] = static_cast<int8_t>(r[j] == 0x80 ? 0 : r[j]);
  }
}

void random_iq4_nl(Rng& rng, const RowScale& rs, BlockIQ4_NL* y, int64_t nb) {
  uint8_t r[32];
  for (int64_t i = 0; i < nb; ++i) {
    y[i].d = rs.block_d(rng);
    rng.bytes(r, 32);
    for (int j = 0; j < 16; ++j) y[i].qs[j] = static_cast<uint8_t>(kPicker.index[r[j]] | (kPicker.index[r[16 + j]] << 4));
  }
}

void random_q2_k(Rng& rng, const RowScale& rs, BlockQ2_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    // Group g spans dl*{0..3} - ml with dl = d*sc, ml = dmin*m and dmin = 1.5 d. With sc in
    // 8..15 and m uniform in [2 sc - 15, 15] the group stays inside [-22.5 d, 22.5 d] and its
    // centre 1.5 d (sc - m) is symmetric around 0.
    const uint16_t d = rs.block_d(rng);
    y[i].d = d;
    y[i].dmin = detail::float_to_half_fast(1.5f * detail::half_to_float_fast(d));
    uint8_t r[32];
    rng.bytes(r, 32);
    for (int g = 0; g < 16; ++g) {
      const int sc = 8 + (r[g] & 7);
      const int lo = 2 * sc - 15;
      const int m = lo + byte_below(r[16 + g], 16 - lo);
      y[i].scales[g] = static_cast<uint8_t>(sc | (m << 4));
    }
    rng.bytes(y[i].qs, 64);
  }
}

void random_q3_k(Rng& rng, const RowScale& rs, BlockQ3_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    // Quants are -4..3; a random sign per group makes the values symmetric.
    y[i].d = rs.block_d(rng);
    const uint64_t r = rng.next();
    uint8_t sc[16];
    for (int g = 0; g < 16; ++g) {
      const int k = 28 + static_cast<int>((r >> (3 * g)) & 3);
      const bool negative = ((r >> (3 * g + 2)) & 1) != 0;
      sc[g] = static_cast<uint8_t>(negative ? 32 - k : 32 + k);
    }
    q3k_pack_scales(sc, y[i].scales);
    rng.bytes(y[i].hmask, 32);
    rng.bytes(y[i].qs, 64);
  }
}

// q4_K / q5_K: min = centre of the quant range, so values are d*sc*(q - qmax/2).
template <typename Block>
void random_k4_scales(Rng& rng, const RowScale& rs, float half_range, Block& y) {
  const uint16_t d = rs.block_d(rng);
  y.d = d;
  y.dmin = detail::float_to_half_fast(half_range * detail::half_to_float_fast(d));
  const uint64_t r = rng.next();
  std::memset(y.scales, 0, sizeof y.scales);
  for (int j = 0; j < 8; ++j) {
    const auto sc = static_cast<uint8_t>(56 + ((r >> (3 * j)) & 7));
    k4_set_scale_min(j, y.scales, sc, sc);
  }
}

void random_q4_k(Rng& rng, const RowScale& rs, BlockQ4_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    random_k4_scales(rng, rs, 7.5f, y[i]);
    rng.bytes(y[i].qs, 128);
  }
}

void random_q5_k(Rng& rng, const RowScale& rs, BlockQ5_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    random_k4_scales(rng, rs, 15.5f, y[i]);
    rng.bytes(y[i].qh, 32);
    rng.bytes(y[i].qs, 128);
  }
}

void random_q6_k(Rng& rng, const RowScale& rs, BlockQ6_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    // Quants are -32..31; signed sub-scales make the values symmetric.
    y[i].d = rs.block_d(rng);
    const uint64_t r = rng.next();
    const uint64_t signs = rng.next();
    for (int g = 0; g < 16; ++g) {
      const int k = 112 + static_cast<int>((r >> (4 * g)) & 15);
      y[i].scales[g] = static_cast<int8_t>(((signs >> g) & 1) != 0 ? -k : k);
    }
    rng.bytes(y[i].ql, 128);
    rng.bytes(y[i].qh, 64);
  }
}

void random_iq4_xs(Rng& rng, const RowScale& rs, BlockIQ4_XS* y, int64_t nb) {
  uint8_t r[128];
  for (int64_t i = 0; i < nb; ++i) {
    y[i].d = rs.block_d(rng);
    const uint64_t sr = rng.next();
    uint16_t scales_h = 0;
    for (int ib = 0; ib < 8; ++ib) {
      const int ls = 60 + static_cast<int>((sr >> (2 * ib)) & 3);  // ls - 32 in 28..31
      if (ib % 2 == 0) {
        y[i].scales_l[ib / 2] = static_cast<uint8_t>(ls & 0xF);
      } else {
        y[i].scales_l[ib / 2] = static_cast<uint8_t>(y[i].scales_l[ib / 2] | ((ls & 0xF) << 4));
      }
      scales_h = static_cast<uint16_t>(scales_h | ((ls >> 4) << (2 * ib)));
    }
    y[i].scales_h = scales_h;
    for (int half = 0; half < 2; ++half) {
      rng.bytes(r, 128);
      for (int j = 0; j < 64; ++j) {
        y[i].qs[64 * half + j] = static_cast<uint8_t>(kPicker.index[r[2 * j]] | (kPicker.index[r[2 * j + 1]] << 4));
      }
    }
  }
}

void random_f32(Rng& rng, const RowScale& rs, float* y, int64_t n) {
  const float s = rs.s;
  for (int64_t i = 0; i < n; i += 2) {
    const uint64_t r = rng.next();
    y[i] = (static_cast<float>(r >> 40) * (2.f / 16777216.f) - 1.f) * s;
    if (i + 1 < n) y[i + 1] = (static_cast<float>(r & 0xFFFFFF) * (2.f / 16777216.f) - 1.f) * s;
  }
}

inline uint16_t to_bf16(float f) { return fp32_to_bf16(f); }

template <uint16_t (*Convert)(float)>
void random_half(Rng& rng, const RowScale& rs, uint16_t* y, int64_t n) {
  float buf[256];
  for (int64_t i = 0; i < n; i += 256) {
    const int64_t count = n - i < 256 ? n - i : 256;
    random_f32(rng, rs, buf, count);
    for (int64_t j = 0; j < count; ++j) y[i + j] = Convert(buf[j]);
  }
}

template <typename Block, void (*Fn)(Rng&, const RowScale&, Block*, int64_t)>
void fill_blocks(Rng& rng, const RowScale& rs, void* dst, int64_t nb) {
  Fn(rng, rs, static_cast<Block*>(dst), nb);
}

using FillFn = void (*)(Rng&, const RowScale&, void*, int64_t);

struct Filler {
  FillFn fill = nullptr;
  float divisor = 0.f;  // range / block scale, for the fp16 range check (0: none)
};

Filler filler_for(Type type) {
  switch (type) {
    case Type::F32: return {fill_blocks<float, random_f32>, 0.f};
    case Type::F16: return {fill_blocks<uint16_t, random_half<detail::float_to_half_fast>>, 1.f};
    case Type::BF16: return {fill_blocks<uint16_t, random_half<to_bf16>>, 0.f};
    case Type::Q4_0: return {fill_blocks<BlockQ4_0, random_q4_0>, 7.f};
    case Type::Q4_1: return {fill_blocks<BlockQ4_1, random_q4_1>, 7.5f};
    case Type::Q5_0: return {fill_blocks<BlockQ5_0, random_q5_0>, 15.f};
    case Type::Q5_1: return {fill_blocks<BlockQ5_1, random_q5_1>, 15.5f};
    case Type::Q8_0: return {fill_blocks<BlockQ8_0, random_q8_0>, 127.f};
    case Type::Q2_K: return {fill_blocks<BlockQ2_K, random_q2_k>, 22.5f};
    case Type::Q3_K: return {fill_blocks<BlockQ3_K, random_q3_k>, 124.f};
    case Type::Q4_K: return {fill_blocks<BlockQ4_K, random_q4_k>, 7.5f * 63.f};
    case Type::Q5_K: return {fill_blocks<BlockQ5_K, random_q5_k>, 15.5f * 63.f};
    case Type::Q6_K: return {fill_blocks<BlockQ6_K, random_q6_k>, 32.f * 127.f};
    case Type::IQ4_NL: return {fill_blocks<BlockIQ4_NL, random_iq4_nl>, 127.f};
    case Type::IQ4_XS: return {fill_blocks<BlockIQ4_XS, random_iq4_xs>, 127.f * 31.f};
    default: return {};
  }
}

}  // namespace

Status fill_random_row(Type type, uint64_t seed, float scale, void* dst, int64_t n) {
  const TypeInfo& info = type_info(type);
  const Filler filler = filler_for(type);
  if (filler.fill == nullptr) {
    return unsupported("random rows of tensor type {} (id {}) are not implemented; supported: f32, f16, bf16, "
                       "q4_0, q4_1, q5_0, q5_1, q8_0, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs",
                       info.name, static_cast<uint32_t>(type));
  }
  if (n < 0 || n % info.block_size != 0) {
    return invalid_argument("random row of {} elements cannot be {}: the count must be a non-negative multiple of "
                            "the block size {}",
                            n, info.name, info.block_size);
  }
  if (!(scale > 0.f) || !std::isfinite(scale)) {
    return invalid_argument("random row scale must be positive and finite, got {}", scale);
  }
  if (type == Type::BF16 && !(scale <= 3.3e38f)) {
    return invalid_argument("random bf16 row scale {} rounds to infinity; use at most 3.3e38", scale);
  }
  if (filler.divisor > 0.f) STRATA_TRY(check_fp16_scale(type, scale, filler.divisor));
  if (n == 0) return {};
  if (dst == nullptr) return invalid_argument("null buffer passed for a random row of {} {} elements", n, info.name);

  Rng rng(seed);
  const RowScale rs = RowScale::make(scale, filler.divisor);
  const int64_t nb = n / info.block_size;
  if (reinterpret_cast<uintptr_t>(dst) % alignof(float) == 0) {
    filler.fill(rng, rs, dst, nb);
    return {};
  }
  // Odd destination (block structs need 2-byte, f32 4-byte alignment): go through a buffer.
  alignas(16) unsigned char bounce[4096];
  const int64_t chunk = static_cast<int64_t>(sizeof bounce / info.block_bytes);
  auto* out = static_cast<unsigned char*>(dst);
  for (int64_t b = 0; b < nb; b += chunk) {
    const int64_t count = nb - b < chunk ? nb - b : chunk;
    filler.fill(rng, rs, bounce, count);
    std::memcpy(out + b * info.block_bytes, bounce, static_cast<size_t>(count) * info.block_bytes);
  }
  return {};
}

}  // namespace strata::quant
