// The CUDA backend against the CPU backend (and a double-precision reference where the two
// round differently): every op, every weight type, every K/V pair at every head size.
// Every test skips with a message when the build has no CUDA or the machine no GPU.
#include <gtest/gtest.h>

#ifndef STRATA_HAVE_CUDA

TEST(CudaBackend, NotBuilt) {
  GTEST_SKIP() << "built without the CUDA backend (configure with -DSTRATA_CUDA=ON where nvcc is installed)";
}

#else

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_backend.h"
#include "quant/convert.h"
#include "quant/random_blocks.h"
#include "quant/type.h"

namespace strata::backend {
namespace {

using quant::Type;

const std::vector<Type> kWeightTypes = {Type::F32,  Type::F16,  Type::BF16, Type::Q4_0, Type::Q4_1,
                                        Type::Q5_0, Type::Q5_1, Type::Q8_0, Type::Q2_K, Type::Q3_K,
                                        Type::Q4_K, Type::Q5_K, Type::Q6_K, Type::IQ4_NL, Type::IQ4_XS};
const std::vector<Type> kKvTypes = {Type::F32,  Type::F16,  Type::BF16, Type::Q8_0,  Type::Q5_1,
                                    Type::Q5_0, Type::Q4_1, Type::Q4_0, Type::IQ4_NL};
const std::vector<int> kHeadDims = {64, 80, 96, 112, 128, 256};

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

class CudaBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (cuda_device_count() == 0) {
      skip_reason_ = "no CUDA device on this machine (the CUDA tests run on a GPU host)";
      return;
    }
    auto gpu = make_cuda_backend(0);
    if (!gpu.ok()) {
      skip_reason_ = "cannot create the CUDA backend: " + gpu.status().to_string();
      return;
    }
    gpu_ = std::move(*gpu).release();
    auto cpu = cpu::CpuBackend::create(2);
    if (cpu.ok()) cpu_ = std::move(*cpu).release();
  }
  static void TearDownTestSuite() {
    delete gpu_;
    gpu_ = nullptr;
    delete cpu_;
    cpu_ = nullptr;
  }
  void SetUp() override {
    if (gpu_ == nullptr) GTEST_SKIP() << skip_reason_;
    ASSERT_NE(cpu_, nullptr);
  }

  Backend& gpu() { return *gpu_; }
  Backend& cpu() { return *cpu_; }

  // Device copy of host bytes; kept alive by the test's `keep` list.
  void* to_gpu(const void* data, size_t bytes) {
    auto buf = gpu_->allocate(bytes, "test data");
    EXPECT_TRUE(buf.ok()) << buf.status().to_string();
    if (!buf.ok()) return nullptr;
    void* p = (*buf)->data();
    EXPECT_TRUE(gpu_->write(p, data, bytes).ok());
    keep_.push_back(std::move(*buf));
    return p;
  }
  float* to_gpu(const std::vector<float>& v) { return static_cast<float*>(to_gpu(v.data(), v.size() * 4)); }
  float* gpu_floats(size_t n) {
    std::vector<float> nan(n, NAN);
    return to_gpu(nan);
  }
  std::vector<float> from_gpu(const float* p, size_t n) {
    std::vector<float> out(n);
    const Status st = gpu_->read(out.data(), p, n * sizeof(float));
    EXPECT_TRUE(st.ok()) << st.to_string();
    return out;
  }
  std::vector<uint8_t> bytes_from_gpu(const void* p, size_t n) {
    std::vector<uint8_t> out(n);
    EXPECT_TRUE(gpu_->read(out.data(), p, n).ok());
    return out;
  }

  static inline Backend* gpu_ = nullptr;
  static inline Backend* cpu_ = nullptr;
  static inline std::string skip_reason_;
  std::vector<std::unique_ptr<DeviceBuffer>> keep_;
};

// Random rows of a weight type: bytes that every backend reads identically.
std::vector<uint8_t> random_weight(Type type, int64_t n_cols, int64_t n_rows, uint32_t seed) {
  const size_t row = quant::row_bytes(type, static_cast<uint64_t>(n_cols)).value();
  std::vector<uint8_t> bytes(row * static_cast<size_t>(n_rows));
  for (int64_t r = 0; r < n_rows; ++r) {
    EXPECT_TRUE(quant::fill_random_row(type, seed * 1000u + static_cast<uint64_t>(r), 1.0f,
                                       bytes.data() + row * static_cast<size_t>(r), n_cols)
                    .ok());
  }
  return bytes;
}

TEST_F(CudaBackendTest, CapabilitiesDescribeTheGpu) {
  const Capabilities& caps = gpu().capabilities();
  EXPECT_EQ(caps.name, "cuda");
  EXPECT_NE(caps.device.find("cuda:0"), std::string::npos) << caps.device;
  EXPECT_GT(caps.memory_bytes, uint64_t{1} << 30);
  EXPECT_GT(caps.free_memory_bytes, 0u);
  EXPECT_LE(caps.free_memory_bytes, caps.memory_bytes);
  EXPECT_EQ(caps.weight_types.size(), kWeightTypes.size());
  EXPECT_EQ(caps.kv_types.size(), kKvTypes.size());
  EXPECT_EQ(caps.head_dims, kHeadDims);
  for (Type t : kWeightTypes) EXPECT_TRUE(gpu().check_weight_type("w", t).ok()) << quant::type_name(t);
  EXPECT_EQ(gpu().check_weight_type("blk.0.ffn_up", Type::IQ2_XXS).code(), ErrorCode::kUnsupported);
}

TEST_F(CudaBackendTest, ErrorsComeBackAsStatus) {
  auto huge = gpu().allocate(size_t{1} << 52, "an impossible buffer");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(huge.status().message().find("an impossible buffer"), std::string::npos) << huge.status().to_string();

  const auto w = random_weight(Type::Q4_0, 64, 4, 1);
  auto view = gpu().load_weight(Type::Q4_0, w, 64, 4);
  ASSERT_TRUE(view.ok());
  float* y = gpu_floats(64);
  const std::vector<int32_t> bad_ids = {0, 4};
  EXPECT_EQ(gpu().get_rows(*view, bad_ids, y).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(gpu().matmul(*view, y, 1, y, 2).code(), ErrorCode::kInvalidArgument);  // y_stride < rows
  EXPECT_EQ(gpu().check_kv_types(Type::Q8_0, Type::Q4_0, 80).code(), ErrorCode::kUnsupported);
  EXPECT_EQ(gpu().check_kv_types(Type::F16, Type::F16, 48).code(), ErrorCode::kUnsupported);
  EXPECT_EQ(gpu().check_kv_types(Type::Q4_K, Type::F16, 128).code(), ErrorCode::kUnsupported);
  EXPECT_EQ(gpu().write_kv(Type::Q4_K, y, 1, 256, y, 256, 0).code(), ErrorCode::kInvalidArgument);

  AttentionCall call;
  const std::vector<int32_t> pos = {5};
  call.q = y;
  call.positions = pos;
  call.k = call.v = y;
  call.k_type = call.v_type = Type::F16;
  call.k_stride = call.v_stride = 128;
  call.n_kv = 5;  // position 5 is outside cells 0..4
  call.n_head = call.n_head_kv = 1;
  call.head_dim = 64;
  call.scale = 0.125f;
  call.out = y;
  EXPECT_EQ(gpu().attention(call).code(), ErrorCode::kInvalidArgument);
  // The backend still works after every refusal.
  const std::vector<int32_t> ids = {3};
  EXPECT_TRUE(gpu().get_rows(*view, ids, y).ok());
  EXPECT_EQ(from_gpu(y, 64).size(), 64u);
}

TEST_F(CudaBackendTest, WriteCopyReadRoundTrip) {
  std::vector<uint8_t> bytes(100003);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 131 + 7);
  auto a = gpu().allocate(bytes.size(), "round trip a");
  auto b = gpu().allocate(bytes.size(), "round trip b");
  auto empty = gpu().allocate(0, "empty");
  ASSERT_TRUE(a.ok() && b.ok() && empty.ok());
  EXPECT_EQ((*a)->size(), bytes.size());
  EXPECT_EQ((*empty)->size(), 0u);
  ASSERT_TRUE(gpu().write((*a)->data(), bytes.data(), bytes.size()).ok());
  ASSERT_TRUE(gpu().copy(static_cast<uint8_t*>((*b)->data()) + 1, (*a)->data(), bytes.size() - 1).ok());
  std::vector<uint8_t> back(bytes.size() - 1);
  ASSERT_TRUE(gpu().read(back.data(), static_cast<uint8_t*>((*b)->data()) + 1, back.size()).ok());
  EXPECT_TRUE(std::equal(back.begin(), back.end(), bytes.begin()));
  EXPECT_EQ(gpu().write(nullptr, bytes.data(), 4).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(gpu().read(back.data(), nullptr, 4).code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(gpu().write(nullptr, nullptr, 0).ok());
}

// Embedding rows of every type dequantize to exactly the CPU's floats.
TEST_F(CudaBackendTest, GetRowsMatchesCpuBitForBit) {
  const int64_t n_cols = 512, n_rows = 9;
  const std::vector<int32_t> ids = {3, 0, 8, 3, 5};
  for (Type type : kWeightTypes) {
    SCOPED_TRACE(quant::type_name(type));
    const auto bytes = random_weight(type, n_cols, n_rows, 7);
    auto gw = gpu().load_weight(type, bytes, n_cols, n_rows);
    auto cw = cpu().load_weight(type, bytes, n_cols, n_rows);
    ASSERT_TRUE(gw.ok() && cw.ok());
    float* out = gpu_floats(ids.size() * n_cols);
    ASSERT_TRUE(gpu().get_rows(*gw, ids, out).ok());
    std::vector<float> want(ids.size() * n_cols);
    ASSERT_TRUE(cpu().get_rows(*cw, ids, want.data()).ok());
    const auto got = from_gpu(out, want.size());
    int mismatches = 0;
    for (size_t i = 0; i < want.size(); ++i) mismatches += std::memcmp(&got[i], &want[i], 4) != 0;
    EXPECT_EQ(mismatches, 0);
  }
}

TEST_F(CudaBackendTest, RmsNormMatchesCpu) {
  for (int64_t n : {64, 4096, 5120}) {
    const int64_t tokens = 5;
    const auto x = random_floats(tokens * n, 11, 3.f);
    const auto w = random_floats(n, 12);
    std::vector<uint8_t> wb(n * 4);
    std::memcpy(wb.data(), w.data(), wb.size());
    auto gw = gpu().load_weight(Type::F32, wb, n, 1);
    auto cw = cpu().load_weight(Type::F32, wb, n, 1);
    ASSERT_TRUE(gw.ok() && cw.ok());
    float* gx = to_gpu(x);
    float* gy = gpu_floats(x.size());
    ASSERT_TRUE(gpu().rms_norm(gx, *gw, gy, tokens, n, 1e-5f).ok());
    ASSERT_TRUE(gpu().rms_norm(gx, *gw, gx, tokens, n, 1e-5f).ok());  // in place
    std::vector<float> want(x.size());
    ASSERT_TRUE(cpu().rms_norm(x.data(), *cw, want.data(), tokens, n, 1e-5f).ok());
    const auto got = from_gpu(gy, x.size());
    const auto got_in_place = from_gpu(gx, x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_NEAR(got[i], want[i], 1e-5 * std::fabs(want[i]) + 1e-6) << i;
      ASSERT_EQ(got[i], got_in_place[i]) << i;
    }
  }
}

// Every weight type, decode (<= 8 tokens: matvec kernels) and prefill (cuBLAS) batch sizes.
// Tolerances, with L = sum_k |w_k x_k| of the output: against a double reference on the
// dequantized weights, 2e-5 L for f32/f16/bf16 weights in the decode kernels (f32 math),
// 3e-2 L for block types in decode (activations quantized to int8 per 32 values, as the
// CPU does), 2e-3 L for the f16 cuBLAS path (activations and dequantized weights rounded to
// f16), 8e-3 L where activations are rounded to bf16; against the CPU backend, which quantizes activations to 8 bits per 32
// (per 256 for the K-quants, whose worst case on a single 256-value row reaches ~5%), 8e-2 L.
TEST_F(CudaBackendTest, MatmulEveryTypeMatchesCpuAndReference) {
  struct Shape {
    int64_t K, rows;
    std::vector<int64_t> tokens;
  };
  // Row counts that take 1, 2 and 4 rows per warp in the decode kernels, with a partial tail;
  // at K 6144 a lane of the block-type kernel takes a second unit of a row after its first
  // (two chunks), at K 16640 five chunks, the last of 8 units.
  const std::vector<Shape> shapes = {{512, 67, {1, 2, 5, 8, 9, 33, 128}}, {256, 2050, {1, 3, 8, 40}},
                                     {256, 8195, {1, 7}}, {6144, 300, {1, 8}}, {16640, 40, {1, 3}}};
  for (const Shape& shape : shapes)
  for (Type type : kWeightTypes) {
    const int64_t K = shape.K, rows = shape.rows;
    const auto bytes = random_weight(type, K, rows, 21);
    std::vector<float> wf(static_cast<size_t>(K * rows));
    const size_t row_bytes = quant::row_bytes(type, K).value();
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_TRUE(quant::dequantize_row(type, bytes.data() + r * row_bytes, wf.data() + r * K, K).ok());
    }
    auto gw = gpu().load_weight(type, bytes, K, rows);
    auto cw = cpu().load_weight(type, bytes, K, rows);
    ASSERT_TRUE(gw.ok() && cw.ok());
    for (int64_t tokens : shape.tokens) {
      SCOPED_TRACE(fmt::format("{} [{} x {}] x {} tokens", quant::type_name(type), K, rows, tokens));
      const int64_t y_stride = rows + 5;
      const auto x = random_floats(static_cast<size_t>(tokens * K), 22 + static_cast<uint32_t>(tokens));
      float* gx = to_gpu(x);
      float* gy = gpu_floats(static_cast<size_t>(tokens * y_stride));
      const Status st = gpu().matmul(*gw, gx, tokens, gy, y_stride);
      ASSERT_TRUE(st.ok()) << st.to_string();
      std::vector<float> cy(static_cast<size_t>(tokens * y_stride), 0.f);
      ASSERT_TRUE(cpu().matmul(*cw, x.data(), tokens, cy.data(), y_stride).ok());
      const auto got = from_gpu(gy, cy.size());
      const bool decode = tokens <= 8;
      const bool float_weights = type == Type::F32 || type == Type::F16 || type == Type::BF16;
      const double tol = decode ? (float_weights ? 2e-5 : 3e-2)
                                : type == Type::F32 ? 2e-5 : type == Type::BF16 ? 8e-3 : 2e-3;
      double worst_ref = 0, worst_cpu = 0;
      for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t r = 0; r < rows; ++r) {
          double exact = 0, l1 = 0;
          for (int64_t k = 0; k < K; ++k) {
            const double p = static_cast<double>(wf[r * K + k]) * x[t * K + k];
            exact += p;
            l1 += std::fabs(p);
          }
          const float g = got[t * y_stride + r];
          ASSERT_TRUE(std::isfinite(g)) << "row " << r << " token " << t;
          worst_ref = std::max(worst_ref, std::fabs(g - exact) / l1);
          worst_cpu = std::max(worst_cpu, std::fabs(g - cy[t * y_stride + r]) / l1);
        }
        // The padding between output rows is left alone.
        EXPECT_TRUE(std::isnan(got[t * y_stride + rows]));
      }
      EXPECT_LE(worst_ref, tol);
      EXPECT_LE(worst_cpu, 8e-2);
    }
  }
}

TEST_F(CudaBackendTest, ElementwiseOpsMatchCpu) {
  const int64_t tokens = 7, n = 1000;
  const auto a = random_floats(tokens * n, 31, 4.f);
  const auto b = random_floats(tokens * n, 32);
  float* ga = to_gpu(a);
  float* gb = to_gpu(b);
  float* gout = gpu_floats(a.size());
  std::vector<float> want(a.size());

  ASSERT_TRUE(gpu().swiglu(ga, gb, gout, tokens, n).ok());
  ASSERT_TRUE(cpu().swiglu(a.data(), b.data(), want.data(), tokens, n).ok());
  auto got = from_gpu(gout, a.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(got[i], want[i], 2e-6 * std::fabs(want[i]) + 1e-30) << i;

  ASSERT_TRUE(gpu().add(ga, gb, gout, tokens, n).ok());
  ASSERT_TRUE(cpu().add(a.data(), b.data(), want.data(), tokens, n).ok());
  got = from_gpu(gout, a.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(got[i], want[i]) << i;

  // Bias on a 300-wide slice of 1000-wide rows, as on the k part of a fused qkv output.
  const auto bias = random_floats(300, 33);
  std::vector<uint8_t> bb(bias.size() * 4);
  std::memcpy(bb.data(), bias.data(), bb.size());
  auto gbias = gpu().load_weight(Type::F32, bb, 300, 1);
  auto cbias = cpu().load_weight(Type::F32, bb, 300, 1);
  ASSERT_TRUE(gbias.ok() && cbias.ok());
  std::vector<float> x = a;
  ASSERT_TRUE(gpu().add_bias(ga + 200, *gbias, tokens, 300, n).ok());
  ASSERT_TRUE(cpu().add_bias(x.data() + 200, *cbias, tokens, 300, n).ok());
  got = from_gpu(ga, a.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(got[i], x[i]) << i;
}

// Normal and neox rotation, partial rotary dims, frequency factors, scaling, row strides.
TEST_F(CudaBackendTest, RopeMatchesCpu) {
  struct Case {
    RopeMode mode;
    int64_t head_dim, rope_dim;
    float base, scale;
    bool factors;
  };
  const std::vector<Case> cases = {{RopeMode::kNormal, 128, 0, 500000.f, 1.f, true},
                                   {RopeMode::kNeox, 128, 0, 1000000.f, 1.f, false},
                                   {RopeMode::kNeox, 64, 32, 10000.f, 0.25f, false},
                                   {RopeMode::kNormal, 80, 80, 10000.f, 1.f, false}};
  const std::vector<int32_t> pos = {0, 1, 17, 4095, 8191, 30000};
  const int64_t tokens = static_cast<int64_t>(pos.size()), n_head = 6;
  for (const Case& c : cases) {
    SCOPED_TRACE(fmt::format("head {} rope {} neox {}", c.head_dim, c.rope_dim, c.mode == RopeMode::kNeox));
    RopeParams p;
    p.head_dim = c.head_dim;
    p.rope_dim = c.rope_dim;
    p.mode = c.mode;
    p.freq_base = c.base;
    p.freq_scale = c.scale;
    const int64_t rd = c.rope_dim == 0 ? c.head_dim : c.rope_dim;
    if (c.factors) {
      for (int64_t i = 0; i < rd / 2; ++i) p.freq_factors.push_back(1.f + static_cast<float>(i % 7));
    }
    auto ga = gpu().create_rope(p);
    auto ca = cpu().create_rope(p);
    ASSERT_TRUE(ga.ok() && ca.ok());
    ASSERT_TRUE((*ga)->set_positions(pos).ok());
    ASSERT_TRUE((*ca)->set_positions(pos).ok());
    const int64_t stride = n_head * c.head_dim + 16;
    auto x = random_floats(static_cast<size_t>(tokens * stride), 41);
    float* gx = to_gpu(x);
    ASSERT_TRUE(gpu().rope(gx, tokens, n_head, **ga, stride).ok());
    ASSERT_TRUE(cpu().rope(x.data(), tokens, n_head, **ca, stride).ok());
    const auto got = from_gpu(gx, x.size());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(got[i], x[i], 2e-5) << i;
  }
  RopeParams p;
  p.head_dim = 64;
  auto ga = gpu().create_rope(p);
  ASSERT_TRUE(ga.ok());
  const std::vector<int32_t> negative = {-1};
  EXPECT_EQ((*ga)->set_positions(negative).code(), ErrorCode::kInvalidArgument);
}

// KV rows of every type: the same bytes as the CPU's writer (ggml's reference quantizers).
TEST_F(CudaBackendTest, WriteKvMatchesCpuByteForByte) {
  const int64_t rows = 37, elems = 256, src_stride = 300;
  auto x = random_floats(static_cast<size_t>(rows * src_stride), 51, 2.f);
  for (int64_t i = 0; i < 32; ++i) x[static_cast<size_t>(i)] = 0.f;  // an all-zero block
  x[40] = 1e-20f;                                                     // a tiny one
  // Ties the reference's scans settle by position (the GPU writes a block with a warp): the
  // largest magnitude twice with both signs, the minimum as -0 and +0, a block of signed zeros.
  x[300 + 3] = -9.f;
  x[300 + 7] = 9.f;
  x[300 + 20] = -9.f;
  for (int64_t i = 0; i < 32; ++i) x[static_cast<size_t>(600 + 32 + i)] = i % 3 == 0 ? -0.f : (i % 3 == 1 ? 0.f : 1.f);
  for (int64_t i = 0; i < 32; ++i) x[static_cast<size_t>(900 + 64 + i)] = i % 2 == 0 ? 0.f : -0.f;
  const float* gx = to_gpu(x);
  for (Type type : kKvTypes) {
    SCOPED_TRACE(quant::type_name(type));
    const size_t row = quant::row_bytes(type, elems).value();
    const size_t stride = row + 6;
    std::vector<uint8_t> want(stride * rows, 0xAB);
    void* gdst = to_gpu(want.data(), want.size());
    ASSERT_TRUE(gpu().write_kv(type, gx, rows, elems, gdst, stride, src_stride).ok());
    ASSERT_TRUE(cpu().write_kv(type, x.data(), rows, elems, want.data(), stride, src_stride).ok());
    const auto got = bytes_from_gpu(gdst, want.size());
    // The reference itself, row by row, to tell a CPU writer difference from a GPU one.
    std::vector<uint8_t> ref(row);
    int mismatches = 0, ref_mismatches = 0;
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_TRUE(quant::quantize_row(type, x.data() + r * src_stride, ref.data(), elems).ok());
      for (size_t i = 0; i < row; ++i) {
        const size_t at = static_cast<size_t>(r) * stride + i;
        if (got[at] != want[at] && ++mismatches <= 4) {
          ADD_FAILURE() << "row " << r << " byte " << i << " (block byte " << i % quant::type_info(type).block_bytes
                        << "): gpu " << int{got[at]} << " cpu " << int{want[at]} << " quantize_row " << int{ref[i]};
        }
        ref_mismatches += got[at] != ref[i];
      }
      for (size_t i = row; i < stride; ++i) EXPECT_EQ(got[static_cast<size_t>(r) * stride + i], 0xAB);
    }
    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(ref_mismatches, 0);
  }
}

// ---- attention ------------------------------------------------------------------------------

struct Cache {
  Type type;
  size_t stride = 0;
  std::vector<uint8_t> bytes;
  float max_abs = 0.f;
};

Cache make_cache(Backend& cpu, Type type, int hd, int n_head_kv, int64_t cells, uint32_t seed) {
  Cache c;
  c.type = type;
  const int64_t width = static_cast<int64_t>(hd) * n_head_kv;
  const size_t row = quant::row_bytes(type, width).value();
  c.stride = row + 4;
  c.bytes.assign(c.stride * static_cast<size_t>(cells), 0);
  const auto x = random_floats(static_cast<size_t>(width * cells), seed);
  EXPECT_TRUE(cpu.write_kv(type, x.data(), cells, width, c.bytes.data(), c.stride, 0).ok());
  for (float v : x) c.max_abs = std::max(c.max_abs, std::fabs(v));
  return c;
}

struct AttnCase {
  int hd = 64;
  int n_head = 8;
  int n_head_kv = 2;
  int64_t n_kv = 300;
  std::vector<int32_t> pos;
};

// Largest |gpu - cpu plain| over max |V|; NaN or inf gives infinity.
double attention_error(CudaBackendTest& t, Backend& gpu, Backend& cpu, const AttnCase& s, const Cache& k,
                       const Cache& v, const void* gk, const void* gv, float* gq, const std::vector<float>& q,
                       float* gout, bool flash, Status& status) {
  const size_t n_out = s.pos.size() * static_cast<size_t>(s.n_head * s.hd);
  AttentionCall call;
  call.q = gq;
  call.positions = s.pos;
  call.k_type = k.type;
  call.k = gk;
  call.k_stride = k.stride;
  call.v_type = v.type;
  call.v = gv;
  call.v_stride = v.stride;
  call.n_kv = s.n_kv;
  call.n_head = s.n_head;
  call.n_head_kv = s.n_head_kv;
  call.head_dim = s.hd;
  call.scale = 1.f / std::sqrt(static_cast<float>(s.hd));
  call.flash = flash;
  call.out = gout;
  status = gpu.attention(call);
  if (!status.ok()) return INFINITY;
  std::vector<float> want(n_out);
  AttentionCall ccall = call;
  ccall.q = q.data();
  ccall.k = k.bytes.data();
  ccall.v = v.bytes.data();
  ccall.flash = false;
  ccall.out = want.data();
  status = cpu.attention(ccall);
  if (!status.ok()) return INFINITY;
  std::vector<float> got(n_out);
  status = gpu.read(got.data(), gout, n_out * sizeof(float));
  if (!status.ok()) return INFINITY;
  double err = 0;
  for (size_t i = 0; i < n_out; ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    err = std::max(err, static_cast<double>(std::fabs(got[i] - want[i])));
  }
  (void)t;
  return err / std::max(v.max_abs, 1e-30f);
}

// All 81 K/V pairs at the 6 head sizes, decode (1 token) and prefill (5 tokens mid-cache,
// 40 tokens so one KV head's rows span several blocks), flash and plain. Both sides compute
// in f32 on the same decoded values; tolerance 1e-5 of max |V|. Pairs with a block type at a
// head size it does not divide (80, 112) must be refused like the CPU refuses them.
TEST_F(CudaBackendTest, AttentionEveryPairAndHeadSizeMatchesCpuPlainPath) {
  int runs = 0, refused = 0;
  double worst = 0;
  for (int hd : kHeadDims) {
    for (Type kt : kKvTypes) {
      for (Type vt : kKvTypes) {
        SCOPED_TRACE(fmt::format("K {} V {} head {}", quant::type_name(kt), quant::type_name(vt), hd));
        const bool cpu_ok = cpu().check_kv_types(kt, vt, hd).ok();
        ASSERT_EQ(gpu().check_kv_types(kt, vt, hd).ok(), cpu_ok);
        AttnCase s;
        s.hd = hd;
        const int64_t width = static_cast<int64_t>(hd) * s.n_head_kv;
        if (!cpu_ok) {
          ++refused;
          s.pos = {0};
          std::vector<float> q(static_cast<size_t>(s.n_head * hd), 0.f);
          float* gq = to_gpu(q);
          AttentionCall call;
          call.q = gq;
          call.positions = s.pos;
          call.k_type = kt;
          call.v_type = vt;
          call.k = call.v = gq;
          call.k_stride = call.v_stride = static_cast<size_t>(width) * 4;
          call.n_kv = 1;
          call.n_head = s.n_head;
          call.n_head_kv = s.n_head_kv;
          call.head_dim = hd;
          call.scale = 1.f;
          call.out = gq;
          EXPECT_EQ(gpu().attention(call).code(), ErrorCode::kUnsupported);
          continue;
        }
        const uint32_t seed = static_cast<uint32_t>(hd * 1000 + static_cast<int>(kt) * 31 + static_cast<int>(vt));
        const Cache k = make_cache(cpu(), kt, hd, s.n_head_kv, s.n_kv, seed);
        const Cache v = make_cache(cpu(), vt, hd, s.n_head_kv, s.n_kv, seed + 1);
        const void* gk = to_gpu(k.bytes.data(), k.bytes.size());
        const void* gv = to_gpu(v.bytes.data(), v.bytes.size());
        std::vector<std::vector<int32_t>> batches = {{299}, {0, 1, 150, 151, 299}};
        if (kt == vt) {
          std::vector<int32_t> many;
          for (int i = 0; i < 40; ++i) many.push_back(260 + i);
          batches.push_back(many);
        }
        for (const auto& pos : batches) {
          s.pos = pos;
          const auto q = random_floats(pos.size() * static_cast<size_t>(s.n_head * hd), seed + 2);
          float* gq = to_gpu(q);
          float* gout = gpu_floats(q.size());
          for (bool flash : {true, false}) {
            Status st;
            const double err = attention_error(*this, gpu(), cpu(), s, k, v, gk, gv, gq, q, gout, flash, st);
            ASSERT_TRUE(st.ok()) << st.to_string();
            // Flash batches of 16+ tokens at head dims <= 128 run on tensor cores with f16
            // operands (attention_mma.cu): 2e-3 of max |V| there (seen on an H100: 1.2e-4),
            // 1e-5 on the f32 kernels.
            const double tol = flash && pos.size() >= 16 && hd <= 128 ? 2e-3 : 1e-5;
            EXPECT_LE(err, tol) << pos.size() << " tokens, flash " << flash;
            worst = std::max(worst, err);
            ++runs;
          }
        }
        keep_.clear();
      }
    }
  }
  EXPECT_EQ(refused, 2 * (81 - 9));  // head sizes 80 and 112 take only f32/f16/bf16
  std::printf("attention: %d runs, %d pairs refused, worst error %.3g of max |V|\n", runs, refused, worst);
}

// Long contexts split the cells over many blocks; grouped-query shapes of real models.
TEST_F(CudaBackendTest, AttentionLongContextAndGroupsMatchCpu) {
  struct Shape {
    int hd, n_head, n_head_kv;
    int64_t n_kv;
    Type kt, vt;
    std::vector<int32_t> pos;
  };
  std::vector<int32_t> prefill;
  for (int i = 0; i < 64; ++i) prefill.push_back(4000 + i * 17);
  const std::vector<Shape> shapes = {{128, 32, 8, 5000, Type::F16, Type::F16, {4999}},
                                     {128, 32, 8, 5000, Type::Q8_0, Type::Q4_0, {4999}},
                                     {128, 32, 8, 5100, Type::IQ4_NL, Type::Q5_1, prefill},
                                     {64, 4, 4, 3000, Type::BF16, Type::Q4_1, {0, 2999, 1500}},
                                     {256, 16, 1, 2048, Type::Q5_0, Type::F32, {2047, 100}},
                                     // One token (attention_decode.cu) at every group size it
                                     // serves, lone and split cells; a group of 16 it does not.
                                     {128, 28, 4, 3000, Type::Q4_0, Type::Q8_0, {2999}},
                                     {128, 32, 8, 8192, Type::Q4_0, Type::Q4_0, {8191}},
                                     {256, 16, 2, 1000, Type::F16, Type::IQ4_NL, {777}},
                                     {64, 8, 8, 700, Type::Q5_1, Type::BF16, {699}},
                                     // Qwen2.5-0.5B's heads: a group of 7 at head size 64, where
                                     // a lane group sums more scores than it has lanes.
                                     {64, 14, 2, 900, Type::Q8_0, Type::Q4_0, {899}},
                                     {96, 6, 2, 40, Type::F32, Type::F16, {19}},
                                     {112, 10, 2, 5, Type::F16, Type::F32, {0}},
                                     {80, 16, 1, 300, Type::F16, Type::F16, {299}}};
  for (const Shape& sh : shapes) {
    SCOPED_TRACE(fmt::format("hd {} heads {}/{} cells {}", sh.hd, sh.n_head, sh.n_head_kv, sh.n_kv));
    AttnCase s;
    s.hd = sh.hd;
    s.n_head = sh.n_head;
    s.n_head_kv = sh.n_head_kv;
    s.n_kv = sh.n_kv;
    s.pos = sh.pos;
    const Cache k = make_cache(cpu(), sh.kt, sh.hd, sh.n_head_kv, sh.n_kv, 91);
    const Cache v = make_cache(cpu(), sh.vt, sh.hd, sh.n_head_kv, sh.n_kv, 92);
    const void* gk = to_gpu(k.bytes.data(), k.bytes.size());
    const void* gv = to_gpu(v.bytes.data(), v.bytes.size());
    const auto q = random_floats(sh.pos.size() * static_cast<size_t>(sh.n_head * sh.hd), 93, 2.f);
    float* gq = to_gpu(q);
    float* gout = gpu_floats(q.size());
    Status st;
    const double err = attention_error(*this, gpu(), cpu(), s, k, v, gk, gv, gq, q, gout, true, st);
    ASSERT_TRUE(st.ok()) << st.to_string();
    // The 64-token prefill runs on tensor cores (f16 operands) where the head dim is <= 128
    // (seen on an H100: 1.9e-4 of max |V|).
    const double tol = sh.pos.size() >= 16 && sh.hd <= 128 ? 2e-3 : 1e-5;
    EXPECT_LE(err, tol) << sh.pos.size() << " tokens";
    std::printf("attention hd %d, %zu tokens, K %s V %s: error %.3g of max |V|\n", sh.hd, sh.pos.size(),
                std::string(quant::type_name(sh.kt)).c_str(), std::string(quant::type_name(sh.vt)).c_str(), err);
  }
}

}  // namespace
}  // namespace strata::backend

#endif  // STRATA_HAVE_CUDA
