// `strata quantize IN OUT TYPE`: convert a GGUF's tensors to a type or mix (llama-quantize's order).
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "cli/progress_bar.h"
#include "gguf/file.h"
#include "model/quantize_model.h"

namespace strata::cli {
namespace {

struct QuantizeArgs {
  std::string input;
  std::string output;
  std::string type;
  size_t positional_threads = 0;
  size_t threads = std::max(1u, std::thread::hardware_concurrency());
  CLI::Option* o_threads = nullptr;
  CLI::Option* o_positional_threads = nullptr;
};

Status run_quantize(const QuantizeArgs& a) {
  STRATA_ASSIGN_OR_RETURN(const model::QuantTarget target, model::parse_quant_target(a.type));
  {
    // Plan first so shape fallbacks are reported before the long part starts.
    STRATA_ASSIGN_OR_RETURN(const gguf::File in, gguf::File::open(a.input));
    STRATA_ASSIGN_OR_RETURN(const model::QuantizePlan plan, model::plan_quantize(in, target));
    for (const model::TensorConversion& t : plan.tensors) {
      if (!t.note.empty()) std::fprintf(stderr, "strata quantize: note: tensor '%s': %s\n", t.name.c_str(), t.note.c_str());
      spdlog::debug("{}: {} -> {}", t.name, quant::type_name(t.from), quant::type_name(t.to));
    }
  }
  model::QuantizeOptions options;
  options.target = target;
  options.n_threads = a.o_threads->count() > 0 ? a.threads
                      : a.o_positional_threads->count() > 0 ? a.positional_threads
                                                            : a.threads;
  options.n_threads = std::max<size_t>(1, options.n_threads);

  const auto start = std::chrono::steady_clock::now();
  ProgressBar bar("quantize");
  STRATA_ASSIGN_OR_RETURN(const model::QuantizePlan plan,
                          model::quantize_model(a.input, a.output, options, [&](uint64_t done, uint64_t total) {
                            bar.update(done, total);
                          }));
  bar.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("wrote {} ({}): tensor data {:.1f} MB -> {:.1f} MB, {} tensors ({} fell back to another type) in {:.1f} s\n",
             a.output, target.name, plan.bytes_in / 1e6, plan.bytes_out / 1e6, plan.tensors.size(), plan.n_fallback,
             seconds);
  return {};
}

const bool registered = register_command({
    "quantize",
    "convert a GGUF's tensors to another type or mix (IN OUT TYPE, like llama-quantize)",
    71,
    [](CLI::App& app) -> Action {
      auto a = std::make_shared<QuantizeArgs>();
      app.add_option("input", a->input, "GGUF to read")->required();
      app.add_option("output", a->output, "GGUF to write")->required();
      app.add_option("type", a->type, "target: " + model::quant_target_names())->required();
      a->o_positional_threads = app.add_option("nthreads", a->positional_threads, "threads (as llama-quantize)");
      a->o_threads = app.add_option("-t,--threads", a->threads, "threads converting rows")->capture_default_str();
      return [a] { return run_quantize(*a); };
    },
});

}  // namespace
}  // namespace strata::cli
