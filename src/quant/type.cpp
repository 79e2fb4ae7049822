// The GGUF/ggml type table: every type id a file may carry, with its block geometry.
#include "quant/type.h"

#include <array>
#include <limits>

namespace strata::quant {
namespace {

// clang-format off
// Block geometry follows ggml's block structs (ggml-common.h); ids absent from the table
// (4, 5, 31-33, 36-38) were removed from ggml and are rejected.
constexpr std::array kTypes = {
  //       type           name       block bytes quantized deq   quant
  TypeInfo{Type::F32,     "f32",     1,    4,    false,    true,  true},
  TypeInfo{Type::F16,     "f16",     1,    2,    false,    true,  true},
  TypeInfo{Type::Q4_0,    "q4_0",    32,   18,   true,     true,  true},
  TypeInfo{Type::Q4_1,    "q4_1",    32,   20,   true,     true,  true},
  TypeInfo{Type::Q5_0,    "q5_0",    32,   22,   true,     true,  true},
  TypeInfo{Type::Q5_1,    "q5_1",    32,   24,   true,     true,  true},
  TypeInfo{Type::Q8_0,    "q8_0",    32,   34,   true,     true,  true},
  TypeInfo{Type::Q8_1,    "q8_1",    32,   36,   true,     false, false},
  TypeInfo{Type::Q2_K,    "q2_K",    256,  84,   true,     true,  true},
  TypeInfo{Type::Q3_K,    "q3_K",    256,  110,  true,     true,  true},
  TypeInfo{Type::Q4_K,    "q4_K",    256,  144,  true,     true,  true},
  TypeInfo{Type::Q5_K,    "q5_K",    256,  176,  true,     true,  true},
  TypeInfo{Type::Q6_K,    "q6_K",    256,  210,  true,     true,  true},
  TypeInfo{Type::Q8_K,    "q8_K",    256,  292,  true,     false, false},
  TypeInfo{Type::IQ2_XXS, "iq2_xxs", 256,  66,   true,     false, false},
  TypeInfo{Type::IQ2_XS,  "iq2_xs",  256,  74,   true,     false, false},
  TypeInfo{Type::IQ3_XXS, "iq3_xxs", 256,  98,   true,     false, false},
  TypeInfo{Type::IQ1_S,   "iq1_s",   256,  50,   true,     false, false},
  TypeInfo{Type::IQ4_NL,  "iq4_nl",  32,   18,   true,     true,  true},
  TypeInfo{Type::IQ3_S,   "iq3_s",   256,  110,  true,     false, false},
  TypeInfo{Type::IQ2_S,   "iq2_s",   256,  82,   true,     false, false},
  TypeInfo{Type::IQ4_XS,  "iq4_xs",  256,  136,  true,     true,  true},
  TypeInfo{Type::I8,      "i8",      1,    1,    false,    false, false},
  TypeInfo{Type::I16,     "i16",     1,    2,    false,    false, false},
  TypeInfo{Type::I32,     "i32",     1,    4,    false,    false, false},
  TypeInfo{Type::I64,     "i64",     1,    8,    false,    false, false},
  TypeInfo{Type::F64,     "f64",     1,    8,    false,    false, false},
  TypeInfo{Type::IQ1_M,   "iq1_m",   256,  56,   true,     false, false},
  TypeInfo{Type::BF16,    "bf16",    1,    2,    false,    true,  true},
  TypeInfo{Type::TQ1_0,   "tq1_0",   256,  54,   true,     false, false},
  TypeInfo{Type::TQ2_0,   "tq2_0",   256,  66,   true,     false, false},
  TypeInfo{Type::MXFP4,   "mxfp4",   32,   17,   true,     false, false},
};
// clang-format on

constexpr uint32_t kMaxId = 40;

// Index by id so lookups in hot paths (per tensor, per row) are one load.
constexpr std::array<int8_t, kMaxId> make_index() {
  std::array<int8_t, kMaxId> index{};
  for (auto& slot : index) slot = -1;
  for (size_t i = 0; i < kTypes.size(); ++i) index[static_cast<uint32_t>(kTypes[i].type)] = static_cast<int8_t>(i);
  return index;
}
constexpr auto kIndex = make_index();

// Returned for a Type value outside the enum (a cast from unchecked input): row_bytes rejects it.
constexpr TypeInfo kInvalid{static_cast<Type>(0xFFFFFFFFu), "invalid", 1, 0, false, false, false};

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

const TypeInfo* find_type(uint32_t id) {
  if (id >= kMaxId || kIndex[id] < 0) return nullptr;
  return &kTypes[static_cast<size_t>(kIndex[id])];
}

const TypeInfo& type_info(Type type) {
  const TypeInfo* info = find_type(static_cast<uint32_t>(type));
  return info != nullptr ? *info : kInvalid;
}

std::string_view type_name(Type type) { return type_info(type).name; }

std::span<const TypeInfo> all_types() { return kTypes; }

std::optional<Type> type_from_name(std::string_view name) {
  for (const TypeInfo& info : kTypes) {
    if (info.name.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) same = lower(info.name[i]) == lower(name[i]);
    if (same) return info.type;
  }
  return std::nullopt;
}

Result<uint64_t> row_bytes(Type type, uint64_t n) {
  const TypeInfo& info = type_info(type);
  if (info.block_bytes == 0) {
    return invalid_argument("unknown tensor type id {}; known ids are 0-39 except 4, 5, 31-33, 36-38",
                            static_cast<uint32_t>(type));
  }
  if (n % info.block_size != 0) {
    return invalid_argument("{} elements is not a multiple of the {} block size {}; use a multiple of {}", n,
                            info.name, info.block_size, info.block_size);
  }
  const uint64_t blocks = n / info.block_size;
  if (blocks > std::numeric_limits<uint64_t>::max() / info.block_bytes) {
    return invalid_argument("{} elements of {} overflow a 64-bit byte count", n, info.name);
  }
  return blocks * info.block_bytes;
}

}  // namespace strata::quant
