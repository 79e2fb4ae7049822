// Where a local model runs: -ngl, --device and -ts to a placement over the CPU and CUDA GPUs of
// this process, a backend per device, and the one loader every command uses (run, bench, serve,
// check; the worker takes make_device_backend), so they accept and refuse the same settings.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "gguf/file.h"
#include "model/device_placement.h"
#include "model/model.h"
#include "quant/type.h"

namespace strata::cli {

struct ComputeOptions {
  int64_t n_gpu_layers = 0;     // -ngl: the last N layers on the GPU(s); 0 = CPU only; >= n_layer: all
  std::string device = "auto";  // --device: auto, cpu, or GPUs as a comma list (cuda:0,cuda:1)
  std::string tensor_split;     // -ts over this process's GPUs; empty: equal shares
  bool workers = false;         // --worker given: -ts is the workers' and this process uses one device
  int threads = 1;              // CPU threads (also the CPU side of a GPU run)
};

// Whether this binary was built with the CUDA backend.
bool have_cuda();

// model::place_on_devices with the refusals of --worker (a split of this process's layers
// together with workers) and of this build (GPU layers without CUDA; `strata check` turns that
// one off to print the plan before refusing).
Result<model::DevicePlacement> plan_compute(const ComputeOptions& options, uint32_t n_layer,
                                            bool refuse_without_cuda = true);

// A backend on one device: the CPU with `threads` threads, or CUDA GPU N.
Result<std::unique_ptr<backend::Backend>> make_device_backend(const model::Device& device, int threads);

// One backend per device of a placement (a GPU named twice gets two).
class ComputeBackends {
 public:
  static Result<ComputeBackends> create(const ComputeOptions& options, uint32_t n_layer);

  const model::DevicePlacement& placement() const { return placement_; }
  // The model's backend: embeddings, head, and the hidden states between stages.
  backend::Backend& model_backend() const { return *backends_.front(); }
  backend::Backend& device_backend(size_t d) const { return *backends_.at(d); }
  // Whether every device runs attention with this K/V pair (the error names the device).
  Status check_kv_types(quant::Type k_type, quant::Type v_type, int head_dim) const;

 private:
  model::DevicePlacement placement_;
  std::vector<std::unique_ptr<backend::Backend>> backends_;  // placement_.devices order
};

// Loads `file` on the backends. One device: Model::load, one Stage of every layer (as always).
// Several: a Stage per device, plain on the model's backend and a model::BridgedStage on any
// other, joined by Model::assemble. `file` and `backends` must outlive the model.
Result<std::unique_ptr<model::Model>> load_local_model(const gguf::File& file, const ComputeBackends& backends,
                                                       const model::ModelConfig& config);

// Declares -ngl (--n-gpu-layers) and --device, and -ts (--tensor-split) when `tensor_split` is
// given (commands with --worker get -ts from add_worker_flags, which covers both meanings).
void add_compute_flags(CLI::App& app, int64_t& n_gpu_layers, std::string& device, std::string* tensor_split);

// "CPU" or "CUDA": the backend column of bench and the logs.
std::string backend_label(const backend::Backend& backend);

}  // namespace strata::cli
