// `strata quantize`: converts every tensor of a GGUF to a target type or mix, streamed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"
#include "gguf/file.h"
#include "gguf/writer.h"
#include "model/quant_mix.h"
#include "quant/type.h"

namespace strata::model {

struct TensorConversion {
  std::string name;
  std::vector<uint64_t> ne;
  quant::Type from;
  quant::Type to;
  std::string note;  // why a fallback type was used, else empty
};

struct QuantizePlan {
  std::vector<TensorConversion> tensors;  // in file order
  uint64_t bytes_in = 0;                  // tensor data, without padding
  uint64_t bytes_out = 0;
  size_t n_fallback = 0;
};

// Decides every tensor's type and checks that each conversion is possible: a tensor whose
// type strata cannot read (and that must change) is an error naming it and its type.
Result<QuantizePlan> plan_quantize(const gguf::File& in, const QuantTarget& target);

struct QuantizeOptions {
  QuantTarget target;
  size_t n_threads = 1;
};

// Reads `in`, writes `out` (atomically, via a temporary file): all metadata copied, with
// general.file_type and general.quantization_version set. Rows are dequantized to f32 and
// quantized again in parallel, a chunk at a time: memory does not grow with the model.
Result<QuantizePlan> quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                                    const QuantizeOptions& options, const gguf::WriteProgress& progress = {});

}  // namespace strata::model
