// A Backend that passes every call to another one: tests derive from it and override the one
// op they observe or break (count allocations inside attention, refuse a write, ...).
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "backend/backend.h"

namespace strata::testing {

class ForwardingBackend : public backend::Backend {
 public:
  explicit ForwardingBackend(backend::Backend& inner) : inner_(inner) {}

  const backend::Capabilities& capabilities() const override { return inner_.capabilities(); }
  Status check_weight_type(std::string_view t, quant::Type type) const override {
    return inner_.check_weight_type(t, type);
  }
  Status check_kv_types(quant::Type k, quant::Type v, int hd) const override { return inner_.check_kv_types(k, v, hd); }
  Result<std::unique_ptr<backend::DeviceBuffer>> allocate(size_t bytes, std::string_view what) override {
    return inner_.allocate(bytes, what);
  }
  Result<backend::WeightView> load_weight(quant::Type type, std::span<const uint8_t> bytes, int64_t cols,
                                          int64_t rows) override {
    return inner_.load_weight(type, bytes, cols, rows);
  }
  Status write(void* d, const void* s, size_t n) override { return inner_.write(d, s, n); }
  Status read(void* d, const void* s, size_t n) override { return inner_.read(d, s, n); }
  Status copy(void* d, const void* s, size_t n) override { return inner_.copy(d, s, n); }
  void release_idle_threads() override { inner_.release_idle_threads(); }
  Status get_rows(const backend::WeightView& t, std::span<const int32_t> ids, float* out) override {
    return inner_.get_rows(t, ids, out);
  }
  Status rms_norm(const float* x, const backend::WeightView& w, float* y, int64_t nt, int64_t n, float eps) override {
    return inner_.rms_norm(x, w, y, nt, n, eps);
  }
  Status matmul(const backend::WeightView& w, const float* x, int64_t nt, float* y, int64_t ys) override {
    return inner_.matmul(w, x, nt, y, ys);
  }
  Status matmul_group(std::span<const Product> products, const float* x, int64_t nt) override {
    return inner_.matmul_group(products, x, nt);
  }
  Status add_bias(float* x, const backend::WeightView& b, int64_t nt, int64_t n, int64_t xs) override {
    return inner_.add_bias(x, b, nt, n, xs);
  }
  Result<std::unique_ptr<backend::RopeAngles>> create_rope(const backend::RopeParams& p) override {
    return inner_.create_rope(p);
  }
  Status rope(float* x, int64_t nt, int64_t nh, const backend::RopeAngles& a, int64_t xs) override {
    return inner_.rope(x, nt, nh, a, xs);
  }
  Status write_kv(quant::Type type, const float* src, int64_t rows, int64_t elems, void* dst, size_t ds,
                  int64_t ss) override {
    return inner_.write_kv(type, src, rows, elems, dst, ds, ss);
  }
  Status attention(const backend::AttentionCall& call) override { return inner_.attention(call); }
  Status swiglu(const float* g, const float* u, float* out, int64_t nt, int64_t n) override {
    return inner_.swiglu(g, u, out, nt, n);
  }
  Status add(const float* a, const float* b, float* out, int64_t nt, int64_t n) override {
    return inner_.add(a, b, out, nt, n);
  }

 protected:
  backend::Backend& inner_;
};

}  // namespace strata::testing
