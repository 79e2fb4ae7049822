// CpuBackend: the Backend interface over the backend/cpu kernels.
#include "backend/cpu/cpu_backend.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <new>

#include "backend/cpu/cpu_isa.h"
#include "backend/cpu/kv_rows.h"
#include "backend/cpu/ops.h"
#include "backend/cpu/ops_rope.h"

namespace strata::backend::cpu {
namespace {

constexpr size_t kAlignment = 64;

// Host memory, 64-byte aligned so SIMD loads of activation rows never split a cache line.
class HostBuffer final : public DeviceBuffer {
 public:
  HostBuffer(void* data, size_t size) : data_(data), size_(size) {}
  ~HostBuffer() override { std::free(data_); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  void* data() override { return data_; }
  size_t size() const override { return size_; }

 private:
  void* data_;
  size_t size_;
};

class CpuRopeAngles final : public RopeAngles {
 public:
  CpuRopeAngles(RopeTable table, ThreadPool& pool) : table_(std::move(table)), pool_(pool) {}
  Status set_positions(std::span<const int32_t> positions) override {
    return table_.set_positions(positions, pool_);
  }
  const RopeTable& table() const { return table_; }

 private:
  RopeTable table_;
  ThreadPool& pool_;
};

std::string type_list(std::span<const quant::Type> types) {
  std::string out;
  for (quant::Type type : types) {
    if (!out.empty()) out += ", ";
    out += quant::type_name(type);
  }
  return out;
}

Status check_vector(std::string_view op, const WeightView& w, int64_t n) {
  if (w.type != quant::Type::F32 || w.data == nullptr || w.n_cols != n) {
    return invalid_argument("{}: expected an f32 vector of {} values, got {} of {} values{}", op, n,
                            quant::type_name(w.type), w.n_cols, w.data == nullptr ? " (no data)" : "");
  }
  return {};
}

}  // namespace

CpuBackend::CpuBackend(int n_threads) : pool_(static_cast<size_t>(n_threads)) {
  caps_.name = "cpu";
  caps_.device = fmt::format("x86-64 {}, {} thread{}", isa_name(active_isa()), n_threads, n_threads == 1 ? "" : "s");
  for (const quant::TypeInfo& info : quant::all_types()) {
    if (can_matmul(info.type)) caps_.weight_types.push_back(info.type);
  }
  caps_.kv_types.assign(kv_types().begin(), kv_types().end());
  caps_.head_dims = {64, 80, 96, 112, 128, 256};
  const long page = ::sysconf(_SC_PAGESIZE);
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long free_pages = ::sysconf(_SC_AVPHYS_PAGES);
  if (page > 0 && pages > 0) caps_.memory_bytes = static_cast<uint64_t>(page) * static_cast<uint64_t>(pages);
  if (page > 0 && free_pages > 0) {
    caps_.free_memory_bytes = static_cast<uint64_t>(page) * static_cast<uint64_t>(free_pages);
  }
}

CpuBackend::~CpuBackend() = default;

Result<std::unique_ptr<CpuBackend>> CpuBackend::create(int n_threads) {
  if (n_threads < 1 || n_threads > kMaxThreads) {
    return invalid_argument("{} threads requested; use 1 to {} (this machine has {} CPUs)", n_threads, kMaxThreads,
                            ::sysconf(_SC_NPROCESSORS_ONLN));
  }
  return std::unique_ptr<CpuBackend>(new CpuBackend(n_threads));
}

Status CpuBackend::check_weight_type(std::string_view tensor, quant::Type type) const {
  if (can_matmul(type)) return {};
  return unsupported("tensor '{}' has type {}, which the CPU backend cannot multiply; supported weight types: {}",
                     tensor, quant::type_name(type), type_list(caps_.weight_types));
}

Status CpuBackend::check_kv_types(quant::Type k_type, quant::Type v_type, int head_dim) const {
  return check_attention_types(k_type, v_type, head_dim);
}

Result<std::unique_ptr<DeviceBuffer>> CpuBackend::allocate(size_t bytes, std::string_view what) {
  const size_t rounded = bytes == 0 ? kAlignment : (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded < bytes) return resource_exhausted("cannot allocate {} bytes for {}: size overflows", bytes, what);
  void* data = std::aligned_alloc(kAlignment, rounded);
  if (data == nullptr) {
    return resource_exhausted("cannot allocate {} bytes ({:.1f} MiB) for {}: out of memory", bytes,
                              static_cast<double>(bytes) / (1024.0 * 1024.0), what);
  }
  return std::unique_ptr<DeviceBuffer>(new HostBuffer(data, bytes));
}

Result<WeightView> CpuBackend::load_weight(quant::Type type, std::span<const uint8_t> bytes, int64_t n_cols,
                                           int64_t n_rows) {
  if (n_cols <= 0 || n_rows <= 0) {
    return invalid_argument("load_weight: shape [{}, {}] must be positive", n_cols, n_rows);
  }
  STRATA_ASSIGN_OR_RETURN(const uint64_t row_bytes, quant::row_bytes(type, static_cast<uint64_t>(n_cols)));
  if (bytes.size() / row_bytes < static_cast<uint64_t>(n_rows)) {
    return invalid_argument("load_weight: {} bytes hold fewer than {} rows of {} {} values", bytes.size(), n_rows,
                            n_cols, quant::type_name(type));
  }
  // Zero-copy: the ops read the weights where the file mapping has them.
  return WeightView{type, bytes.data(), n_cols, n_rows, static_cast<size_t>(row_bytes)};
}

Status CpuBackend::write(void* device_dst, const void* host_src, size_t bytes) {
  if (bytes == 0) return {};
  if (device_dst == nullptr || host_src == nullptr) return invalid_argument("write: null pointer for {} bytes", bytes);
  std::memmove(device_dst, host_src, bytes);
  return {};
}

Status CpuBackend::read(void* host_dst, const void* device_src, size_t bytes) {
  if (bytes == 0) return {};
  if (host_dst == nullptr || device_src == nullptr) return invalid_argument("read: null pointer for {} bytes", bytes);
  std::memmove(host_dst, device_src, bytes);
  return {};
}

Status CpuBackend::copy(void* device_dst, const void* device_src, size_t bytes) {
  if (bytes == 0) return {};
  if (device_dst == nullptr || device_src == nullptr) return invalid_argument("copy: null pointer for {} bytes", bytes);
  std::memmove(device_dst, device_src, bytes);
  return {};
}

Status CpuBackend::get_rows(const WeightView& table, std::span<const int32_t> ids, float* out) {
  return cpu::get_rows(table.type, table.data, table.row_bytes, table.n_rows, table.n_cols, ids, out, pool_);
}

Status CpuBackend::rms_norm(const float* x, const WeightView& w, float* y, int64_t n_tokens, int64_t n, float eps) {
  STRATA_TRY(check_vector("rms_norm", w, n));
  return cpu::rms_norm(x, w.floats(), y, n_tokens, n, eps, pool_);
}

Status CpuBackend::matmul_group(std::span<const Product> products, const float* x, int64_t n_tokens) {
  std::array<cpu::MatmulWeight, cpu::kMaxGroup> weights;
  if (products.empty()) return {};
  for (const Product& p : products) {
    if (p.w == nullptr) return invalid_argument("matmul_group: a product without a weight");
  }
  const int64_t k = products[0].w->n_cols;
  for (size_t first = 0; first < products.size(); first += weights.size()) {
    const size_t n = std::min(weights.size(), products.size() - first);
    for (size_t i = 0; i < n; ++i) {
      const WeightView& w = *products[first + i].w;
      if (w.n_cols != k) {
        return invalid_argument("matmul_group: weights of {} and {} columns multiply one input; they must match", k,
                                w.n_cols);
      }
      weights[i] = {w.type, w.data, w.row_bytes, w.n_rows, products[first + i].y, products[first + i].y_stride};
    }
    STRATA_TRY(cpu::matmul_group(std::span<const cpu::MatmulWeight>(weights.data(), n), k, x, n_tokens, pool_,
                                 matmul_scratch_));
  }
  return {};
}

Status CpuBackend::matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y, int64_t y_stride) {
  return cpu::matmul(w.type, w.data, w.row_bytes, w.n_rows, w.n_cols, x, n_tokens, y, y_stride, pool_,
                     matmul_scratch_);
}

Status CpuBackend::add_bias(float* x, const WeightView& bias, int64_t n_tokens, int64_t n, int64_t x_stride) {
  STRATA_TRY(check_vector("add_bias", bias, n));
  return cpu::add_bias(x, bias.floats(), n_tokens, n, pool_, x_stride);
}

Result<std::unique_ptr<RopeAngles>> CpuBackend::create_rope(const RopeParams& params) {
  RopeConfig config;
  config.head_dim = params.head_dim;
  config.rope_dim = params.rope_dim;
  config.mode = params.mode == backend::RopeMode::kNeox ? RopeMode::kNeox : RopeMode::kNormal;
  config.freq_base = params.freq_base;
  config.freq_scale = params.freq_scale;
  config.freq_factors = params.freq_factors;
  STRATA_ASSIGN_OR_RETURN(RopeTable table, RopeTable::create(std::move(config)));
  return std::unique_ptr<RopeAngles>(new CpuRopeAngles(std::move(table), pool_));
}

Status CpuBackend::rope(float* x, int64_t n_tokens, int64_t n_head, const RopeAngles& angles, int64_t x_stride) {
  const auto* cpu_angles = dynamic_cast<const CpuRopeAngles*>(&angles);
  if (cpu_angles == nullptr) return invalid_argument("rope: the angles were made by another backend");
  return cpu::rope(x, n_tokens, n_head, cpu_angles->table(), pool_, x_stride);
}

Status CpuBackend::write_kv(quant::Type type, const float* src, int64_t n_rows, int64_t row_elems, void* dst,
                            size_t dst_stride, int64_t src_stride) {
  return write_kv_rows(type, src, n_rows, row_elems, dst, dst_stride, src_stride);
}

Status CpuBackend::attention(const AttentionCall& call) {
  AttentionArgs args;
  args.q = call.q;
  args.q_stride = call.q_stride;
  args.pos = call.positions.data();
  args.n_tokens = static_cast<int64_t>(call.positions.size());
  args.k_type = call.k_type;
  args.k = call.k;
  args.k_stride = call.k_stride;
  args.v_type = call.v_type;
  args.v = call.v;
  args.v_stride = call.v_stride;
  args.n_kv = call.n_kv;
  args.n_head = call.n_head;
  args.n_head_kv = call.n_head_kv;
  args.head_dim = call.head_dim;
  args.scale = call.scale;
  args.flash = call.flash;
  args.out = call.out;
  args.out_stride = call.out_stride;
  return cpu::attention(args, pool_, attention_scratch_);
}

Status CpuBackend::swiglu(const float* gate, const float* up, float* out, int64_t n_tokens, int64_t n) {
  return cpu::swiglu(gate, up, out, n_tokens, n, pool_);
}

Status CpuBackend::add(const float* a, const float* b, float* out, int64_t n_tokens, int64_t n) {
  return cpu::add(a, b, out, n_tokens, n, pool_);
}

}  // namespace strata::backend::cpu
