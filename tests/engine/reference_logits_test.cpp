// The forward pass on the CPU backend against llama.cpp's logits for tiny-llama-hd128
// (../shared/fixtures): prompt logits of one batch and decode-step logits, for the six K/V cache
// configurations of the reference, with the tolerances (reference_logits.h).
#include "engine/reference_logits.h"

#include "backend/cpu/cpu_backend.h"

namespace strata::engine {
namespace {

using reference::Case;

class ReferenceLogitsTest : public ::testing::TestWithParam<Case> {};

TEST_P(ReferenceLogitsTest, PromptAndDecodeLogits) {
  STRATA_REQUIRE_FIXTURES();
  auto backend = backend::cpu::CpuBackend::create(1);
  ASSERT_TRUE(backend.ok()) << backend.status().message();
  const Case& c = GetParam();
  reference::expect_close_to_llama_cpp(c, reference::run_case(c, **backend), "cpu");
}

INSTANTIATE_TEST_SUITE_P(TinyLlamaHd128, ReferenceLogitsTest, ::testing::ValuesIn(reference::kCases),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace strata::engine
