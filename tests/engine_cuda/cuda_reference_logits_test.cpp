// The fixture check on the GPU: tiny-llama-hd128 (../shared/fixtures) with every layer,
// the embeddings and the head on the CUDA backend, against llama.cpp's logits for the
// reference's six K/V cache configurations, with the same tolerances as the CPU backend's test
// (tests/engine/reference_logits.h). Skips without CUDA, a GPU or the fixtures.
#include <gtest/gtest.h>

#ifndef STRATA_HAVE_CUDA

TEST(CudaReferenceLogits, NotBuilt) {
  GTEST_SKIP() << "built without the CUDA backend (configure with -DSTRATA_CUDA=ON where nvcc is installed)";
}

#else

#include "backend/cuda/cuda_backend.h"
#include "engine/reference_logits.h"

namespace strata::engine {
namespace {

using reference::Case;

class CudaReferenceLogitsTest : public ::testing::TestWithParam<Case> {};

TEST_P(CudaReferenceLogitsTest, PromptAndDecodeLogits) {
  STRATA_REQUIRE_FIXTURES();
  if (backend::cuda_device_count() == 0) {
    GTEST_SKIP() << "no CUDA device on this machine (the CUDA tests run on a GPU host)";
  }
  auto gpu = backend::cuda::CudaBackend::create(0);
  ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
  const Case& c = GetParam();
  reference::expect_close_to_llama_cpp(c, reference::run_case(c, **gpu), "cuda");
}

INSTANTIATE_TEST_SUITE_P(TinyLlamaHd128, CudaReferenceLogitsTest, ::testing::ValuesIn(reference::kCases),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace strata::engine

#endif
