// `strata synth`: a GGUF with a real architecture and random weights, streamed to disk.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "gguf/writer.h"
#include "model/hparams.h"
#include "model/quant_mix.h"

namespace strata::model {

// Shapes of the named preset (tiny, 1b, 8b, 70b) for the architecture; the error lists them.
Result<HParams> synth_preset(std::string_view preset, Arch arch);
std::string synth_preset_names();

struct SynthOptions {
  HParams hparams;              // shapes; n_vocab is replaced by the --vocab file's token count
  QuantTarget target;           // f16, q8_0, q4_K_M, ...
  uint64_t seed = 1;            // same seed and options: byte-identical file
  size_t n_threads = 1;
  bool rope_freqs = false;      // add Llama-3.1 rope scaling factors (rope_freqs.weight)
  std::filesystem::path vocab_path;  // empty: the built-in demo vocabulary
  bool n_vocab_given = false;   // hparams.n_vocab was set explicitly: it must match vocab_path
  std::optional<std::string> chat_template;  // replaces the vocabulary's tokenizer.chat_template
};

struct SynthSummary {
  uint64_t file_bytes = 0;
  uint64_t n_params = 0;
  size_t n_tensors = 0;
  uint32_t n_vocab = 0;
  size_t n_fallback = 0;       // tensors whose rows did not fit the target's blocks
  std::string first_fallback;  // "tensor 'x': why", for the first of them
};

// Writes `out` (via a temporary file, renamed at the end). Memory stays at a few chunks of
// rows whatever the model size; rows are generated in parallel on options.n_threads.
Result<SynthSummary> synth_model(const SynthOptions& options, const std::filesystem::path& out,
                                 const gguf::WriteProgress& progress = {});

}  // namespace strata::model
