// Which backend runs a model: the CPU, or a CUDA GPU when -ngl puts the layers there. Shared by
// run, bench, serve and check so they accept and refuse the same settings.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/status.h"

namespace strata::cli {

struct ComputeOptions {
  int64_t n_gpu_layers = 0;   // -ngl: 0 = CPU only; >= the model's layers = the whole model on the GPU
  std::string device = "auto";  // --device: auto, cpu, cuda:N
  int threads = 1;            // CPU threads (also used for the CPU side of a GPU run)
};

// Whether this binary was built with the CUDA backend.
bool have_cuda();

// The backend for a model of n_layer layers. A split (0 < -ngl < n_layer) is refused for now
// with a message saying what works.
Result<std::unique_ptr<backend::Backend>> make_compute_backend(const ComputeOptions& options, uint32_t n_layer);

// "CPU" or "CUDA": the backend column of bench and the logs.
std::string backend_label(const backend::Backend& backend);

}  // namespace strata::cli
