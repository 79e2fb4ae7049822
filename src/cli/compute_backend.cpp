// plan_compute / ComputeBackends / load_local_model: -ngl, --device and -ts to loaded stages.
#include "cli/compute_backend.h"

#include <fmt/format.h>

#include "backend/cpu/cpu_backend.h"
#include "model/bridged_stage.h"
#include "model/stage.h"
#if defined(STRATA_HAVE_CUDA)
#include "backend/cuda/cuda_backend.h"
#endif

namespace strata::cli {

bool have_cuda() {
#if defined(STRATA_HAVE_CUDA)
  return true;
#else
  return false;
#endif
}

Result<model::DevicePlacement> plan_compute(const ComputeOptions& options, uint32_t n_layer,
                                            bool refuse_without_cuda) {
  model::DevicePlacementRequest request;
  request.n_layer = n_layer;
  request.n_gpu_layers = options.n_gpu_layers;
  request.devices = options.device;
  // With --worker, -ts places layers over the workers (dist::place_layers), not over GPUs here.
  if (!options.workers) request.tensor_split = options.tensor_split;
  STRATA_ASSIGN_OR_RETURN(model::DevicePlacement placement, model::place_on_devices(request));
  if (options.workers && !placement.single_device()) {
    if (placement.uses_gpu() && placement.devices.back().is_gpu()) {
      return unsupported("--device {} puts this process's layers on {} GPUs; with --worker this process uses one "
                         "device (name one GPU; -ts splits the layers over the workers)",
                         options.device, placement.devices.size());
    }
    return unsupported("-ngl {} splits this process's {} layers between the CPU and the GPU; with --worker this "
                       "process uses one device: use -ngl 0 or -ngl {} (-ts splits the layers over the workers)",
                       options.n_gpu_layers, n_layer, n_layer);
  }
  if (refuse_without_cuda && placement.uses_gpu() && !have_cuda()) {
    return unsupported("-ngl {}: this strata was built without the CUDA backend; build it with `make cuda` (needs "
                       "nvcc) or use -ngl 0",
                       options.n_gpu_layers);
  }
  return placement;
}

Result<std::unique_ptr<backend::Backend>> make_device_backend(const model::Device& device, int threads) {
  if (!device.is_gpu()) {
    auto cpu = backend::cpu::CpuBackend::create(threads);
    if (!cpu.ok()) return cpu.status();
    return std::unique_ptr<backend::Backend>(std::move(*cpu));
  }
#if defined(STRATA_HAVE_CUDA)
  auto gpu = backend::make_cuda_backend(device.index);
  if (!gpu.ok()) return gpu.status().with_context(device.name());
  return std::move(*gpu);
#else
  return unsupported("--device {}: this strata was built without the CUDA backend; build it with `make cuda` (needs "
                     "nvcc) or use the CPU",
                     device.name());
#endif
}

Result<ComputeBackends> ComputeBackends::create(const ComputeOptions& options, uint32_t n_layer) {
  ComputeBackends out;
  STRATA_ASSIGN_OR_RETURN(out.placement_, plan_compute(options, n_layer));
  for (const model::Device& device : out.placement_.devices) {
    STRATA_ASSIGN_OR_RETURN(auto backend, make_device_backend(device, options.threads));
    out.backends_.push_back(std::move(backend));
  }
  return out;
}

Status ComputeBackends::check_kv_types(quant::Type k_type, quant::Type v_type, int head_dim) const {
  for (size_t d = 0; d < backends_.size(); ++d) {
    if (placement_.layers_of(d).size() == 0) continue;  // no attention runs there
    const Status st = backends_[d]->check_kv_types(k_type, v_type, head_dim);
    if (!st.ok()) return st.with_context(placement_.devices[d].name());
  }
  return {};
}

Result<std::unique_ptr<model::Model>> load_local_model(const gguf::File& file, const ComputeBackends& backends,
                                                       const model::ModelConfig& config) {
  const model::DevicePlacement& placement = backends.placement();
  if (placement.single_device()) return model::Model::load(file, backends.model_backend(), config);

  STRATA_ASSIGN_OR_RETURN(const model::HParams hp, model::read_hparams(file));
  std::vector<std::unique_ptr<model::StageRunner>> stages;
  for (const model::DeviceStage& planned : placement.stages) {
    model::StageConfig sc;
    sc.layers = planned.layers;
    sc.kv = config.kv;
    sc.flash_attn = config.flash_attn;
    sc.n_batch = config.n_batch;
    const std::string where = fmt::format("layers {}-{} on {}", planned.layers.begin, planned.layers.end - 1,
                                          placement.devices[planned.device].name());
    if (planned.device == 0) {
      auto stage = model::Stage::create(backends.model_backend(), file, hp, sc);
      if (!stage.ok()) return stage.status().with_context(where);
      stages.push_back(std::move(*stage));
    } else {
      auto stage = model::BridgedStage::create(backends.model_backend(), backends.device_backend(planned.device), file,
                                               hp, sc);
      if (!stage.ok()) return stage.status().with_context(where);
      stages.push_back(std::move(*stage));
    }
  }
  return model::Model::assemble(file, backends.model_backend(), config, std::move(stages));
}

void add_compute_flags(CLI::App& app, int64_t& n_gpu_layers, std::string& device, std::string* tensor_split) {
  app.add_option("--n-gpu-layers", n_gpu_layers,
                 "(-ngl) the last N layers on the GPU(s), the rest on the CPU; 0: CPU only, 999: all")
      ->capture_default_str();
  app.add_option("--device", device,
                 "auto, cpu, or the GPUs for -ngl's layers as a comma list (cuda:0,cuda:1); auto: cuda:0, or "
                 "cuda:0..k-1 for k -ts ratios")
      ->capture_default_str();
  if (tensor_split != nullptr) {
    app.add_option("--tensor-split", *tensor_split,
                   "(-ts) ratios of -ngl's layers per GPU of --device, e.g. 3,1 (default: equal)");
  }
}

std::string backend_label(const backend::Backend& backend) {
  return backend.capabilities().name == "cuda" ? "CUDA" : "CPU";
}

}  // namespace strata::cli
