// make_compute_backend(): -ngl and --device to a CPU or CUDA backend.
#include "cli/compute_backend.h"

#include <charconv>

#include "backend/cpu/cpu_backend.h"
#if defined(STRATA_HAVE_CUDA)
#include "backend/cuda/cuda_backend.h"
#endif

namespace strata::cli {
namespace {

// cuda:N -> N; "auto" and "cuda" -> 0.
Result<int> cuda_index(const std::string& device) {
  if (device == "auto" || device == "cuda") return 0;
  if (device.rfind("cuda:", 0) != 0) {
    return invalid_argument("--device '{}' is not a device; use cpu, cuda or cuda:N", device);
  }
  int index = -1;
  const char* first = device.data() + 5;
  const char* last = device.data() + device.size();
  const auto [end, ec] = std::from_chars(first, last, index);
  if (ec != std::errc() || end != last || index < 0) {
    return invalid_argument("--device '{}' is not a device; use cpu, cuda or cuda:N with N = 0, 1, ...", device);
  }
  return index;
}

}  // namespace

bool have_cuda() {
#if defined(STRATA_HAVE_CUDA)
  return true;
#else
  return false;
#endif
}

Result<std::unique_ptr<backend::Backend>> make_compute_backend(const ComputeOptions& options, uint32_t n_layer) {
  if (options.n_gpu_layers < 0) {
    return invalid_argument("-ngl {} is negative; give the number of layers to put on the GPU (0: none, 999: all)",
                            options.n_gpu_layers);
  }
  const bool gpu = options.device != "cpu" && options.n_gpu_layers > 0;
  if (options.device == "cpu" && options.n_gpu_layers > 0) {
    return invalid_argument("-ngl {} asks for GPU layers but --device is cpu; drop one of them", options.n_gpu_layers);
  }
  if (!gpu) {
    if (options.device != "auto" && options.device != "cpu") STRATA_TRY(cuda_index(options.device).status());
    auto cpu = backend::cpu::CpuBackend::create(options.threads);
    if (!cpu.ok()) return cpu.status();
    return std::unique_ptr<backend::Backend>(std::move(*cpu));
  }
  STRATA_ASSIGN_OR_RETURN(const int index, cuda_index(options.device));
  if (options.n_gpu_layers < static_cast<int64_t>(n_layer)) {
    return unsupported("-ngl {} would split the model's {} layers between the CPU and the GPU, which this version "
                       "does not do yet; use -ngl {} (every layer on the GPU) or -ngl 0 (CPU only)",
                       options.n_gpu_layers, n_layer, n_layer);
  }
#if defined(STRATA_HAVE_CUDA)
  return backend::make_cuda_backend(index);
#else
  (void)index;
  return unsupported("-ngl {}: this strata was built without the CUDA backend; build it with `make cuda` (needs "
                     "nvcc) or use -ngl 0",
                     options.n_gpu_layers);
#endif
}

std::string backend_label(const backend::Backend& backend) {
  return backend.capabilities().name == "cuda" ? "CUDA" : "CPU";
}

}  // namespace strata::cli
