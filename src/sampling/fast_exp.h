// exp over a run of floats, vectorized: the softmax's cost over a whole vocabulary.
#pragma once

#include <cstddef>

namespace strata::sampling {

// Replaces each x[i] (expected <= 0, as in logit - max) by exp(x[i]) and returns their sum.
// Relative error about 2e-7 (like expf); inputs below -87 (and -inf) give exactly 0. Pure
// float arithmetic, so the same bits on every run and machine.
double exp_in_place(float* x, size_t n);

}  // namespace strata::sampling
