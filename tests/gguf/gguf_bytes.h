// Hand-assembled GGUF bytes for tests that need files the Writer would refuse to produce.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "gguf/file.h"

namespace strata::gguf::testing {

class GgufBytes {
 public:
  GgufBytes& u8(uint8_t v) { return raw(&v, 1); }
  GgufBytes& u32(uint32_t v) { return raw(&v, 4); }
  GgufBytes& i32(int32_t v) { return raw(&v, 4); }
  GgufBytes& u64(uint64_t v) { return raw(&v, 8); }
  GgufBytes& f32(float v) { return raw(&v, 4); }
  GgufBytes& str(std::string_view s) {
    u64(s.size());
    return raw(s.data(), s.size());
  }
  GgufBytes& raw(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
    return *this;
  }
  GgufBytes& zeros(size_t n) {
    bytes.resize(bytes.size() + n, 0);
    return *this;
  }
  GgufBytes& pad_to(uint64_t alignment) {
    return zeros((alignment - bytes.size() % alignment) % alignment);
  }

  // "GGUF", version, tensor count, metadata count.
  GgufBytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    raw("GGUF", 4);
    u32(version);
    u64(n_tensors);
    return u64(n_kv);
  }
  GgufBytes& kv_u32(std::string_view key, uint32_t v) {
    str(key);
    u32(static_cast<uint32_t>(ValueType::kUint32));
    return u32(v);
  }
  GgufBytes& kv_string(std::string_view key, std::string_view v) {
    str(key);
    u32(static_cast<uint32_t>(ValueType::kString));
    return str(v);
  }
  GgufBytes& tensor_info(std::string_view name, std::initializer_list<uint64_t> ne, uint32_t type,
                         uint64_t offset) {
    str(name);
    u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    u32(type);
    return u64(offset);
  }

  Result<File> parse() const { return File::parse(bytes); }

  std::vector<uint8_t> bytes;
};

}  // namespace strata::gguf::testing
