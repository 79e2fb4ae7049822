// Packed block structs of the ggml formats strata computes with, laid out byte for byte as
// in GGUF files; the CPU and CUDA backends read weights through these.
#pragma once

#include <cstdint>

namespace strata::quant {

inline constexpr int kQK4 = 32;   // elements per q4_0/q4_1/q5_0/q5_1/q8_0/iq4_nl block
inline constexpr int kQKK = 256;  // elements per K-quant / iq4_xs super-block
inline constexpr int kKScaleBytes = 12;  // packed 6-bit scales of q3_K/q4_K/q5_K

// Every member is a byte array or uint16_t at an even offset, so the structs have the
// file layout without packing pragmas; the static_asserts pin it down.

struct BlockQ4_0 {
  uint16_t d;          // fp16 scale
  uint8_t qs[16];      // nibbles: element j low, j+16 high
};
struct BlockQ4_1 {
  uint16_t d;          // fp16 scale
  uint16_t m;          // fp16 offset
  uint8_t qs[16];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];       // fifth bits, little-endian u32, bit k for element k
  uint8_t qs[16];
};
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];      // nibbles index kIQ4Values
};

struct BlockQ2_K {
  uint8_t scales[16];  // low nibble scale, high nibble min, per 16 elements
  uint8_t qs[64];      // 2-bit quants
  uint16_t d;          // fp16 super-block scale of the scales
  uint16_t dmin;       // fp16 super-block scale of the mins
};
struct BlockQ3_K {
  uint8_t hmask[32];   // high bit of each 3-bit quant
  uint8_t qs[64];      // low 2 bits
  uint8_t scales[12];  // sixteen 6-bit scales (biased by 32)
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];  // eight 6-bit (scale, min) pairs
  uint8_t qs[128];
};
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[32];
  uint8_t qs[128];
};
struct BlockQ6_K {
  uint8_t ql[128];     // low 4 bits
  uint8_t qh[64];      // high 2 bits
  int8_t scales[16];
  uint16_t d;
};
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;   // high 2 bits of eight 6-bit scales
  uint8_t scales_l[4]; // low 4 bits, two per byte
  uint8_t qs[128];
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockIQ4_XS) == 136);

// The iq4_nl / iq4_xs non-linear levels.
inline constexpr int8_t kIQ4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                          1,    13,   25,  38,  53,  69,  89,  113};

// (scale, min) pair j of a q4_K/q5_K scales array.
inline void k4_scale_min(int j, const uint8_t* s, uint8_t& sc, uint8_t& mn) {
  if (j < 4) {
    sc = s[j] & 63;
    mn = s[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    mn = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Stores 6-bit (scale, min) pair j; pairs must be stored in order j = 0..7 into zeroed bytes.
inline void k4_set_scale_min(int j, uint8_t* s, uint8_t sc, uint8_t mn) {
  if (j < 4) {
    s[j] = sc;
    s[j + 4] = mn;
  } else {
    s[j + 4] = static_cast<uint8_t>((sc & 0xF) | ((mn & 0xF) << 4));
    s[j - 4] = static_cast<uint8_t>(s[j - 4] | ((sc >> 4) << 6));
    s[j] = static_cast<uint8_t>(s[j] | ((mn >> 4) << 6));
  }
}

// Sixteen 6-bit q3_K scales (still biased by 32) from the packed 12 bytes.
inline void q3k_unpack_scales(const uint8_t* packed, int8_t out[16]) {
  for (int i = 0; i < 16; ++i) {
    const int low = (packed[i % 8] >> (4 * (i / 8))) & 0xF;
    const int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
    out[i] = static_cast<int8_t>(low | (high << 4));
  }
}

// Packs sixteen 6-bit q3_K scales (0..63) into 12 bytes.
inline void q3k_pack_scales(const uint8_t in[16], uint8_t* packed) {
  for (int i = 0; i < 12; ++i) packed[i] = 0;
  for (int i = 0; i < 16; ++i) {
    packed[i % 8] = static_cast<uint8_t>(packed[i % 8] | ((in[i] & 0xF) << (4 * (i / 8))));
    packed[8 + i % 4] = static_cast<uint8_t>(packed[8 + i % 4] | ((in[i] >> 4) << (2 * (i / 4))));
  }
}

}  // namespace strata::quant
