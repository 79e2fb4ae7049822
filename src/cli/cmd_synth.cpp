// `strata synth`: write a GGUF with a real architecture and random weights.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "cli/command.h"
#include "cli/progress_bar.h"
#include "model/synth.h"

namespace strata::cli {
namespace {

struct SynthArgs {
  std::string output;
  std::string arch = "llama";
  std::string preset = "tiny";
  std::string type = "f16";
  uint32_t n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0, ctx = 0, n_vocab = 0;
  std::string vocab;
  std::string chat_template_file;
  uint64_t seed = 1;
  size_t threads = std::max(1u, std::thread::hardware_concurrency());
  bool tie_embeddings = false;
  bool rope_freqs = false;
  // Options whose presence matters (an explicit value overrides the preset's).
  CLI::Option *o_embd = nullptr, *o_layer = nullptr, *o_head = nullptr, *o_head_kv = nullptr, *o_ff = nullptr,
              *o_ctx = nullptr, *o_vocab = nullptr;
};

constexpr uint64_t kMaxTemplateBytes = 1 << 20;

Result<std::string> read_template(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return io_error("cannot open chat template file '{}'", path);
  std::ostringstream text;
  text << file.rdbuf();
  if (!file.good() && !file.eof()) return io_error("cannot read chat template file '{}'", path);
  std::string s = std::move(text).str();
  if (s.size() > kMaxTemplateBytes) {
    return invalid_argument("chat template file '{}' is {} bytes; templates over {} bytes are refused", path, s.size(),
                            kMaxTemplateBytes);
  }
  return s;
}

Status run_synth(const SynthArgs& a) {
  STRATA_ASSIGN_OR_RETURN(const model::Arch arch, model::arch_from_name(a.arch));
  STRATA_ASSIGN_OR_RETURN(model::HParams hp, model::synth_preset(a.preset, arch));
  auto override_with = [](CLI::Option* opt, uint32_t value, uint32_t& field) {
    if (opt->count() > 0) field = value;
  };
  override_with(a.o_embd, a.n_embd, hp.n_embd);
  override_with(a.o_layer, a.n_layer, hp.n_layer);
  override_with(a.o_head, a.n_head, hp.n_head);
  override_with(a.o_head_kv, a.n_head_kv, hp.n_head_kv);
  override_with(a.o_ff, a.n_ff, hp.n_ff);
  override_with(a.o_ctx, a.ctx, hp.n_ctx_train);
  override_with(a.o_vocab, a.n_vocab, hp.n_vocab);
  // A head count given alone keeps the preset's grouping only if it still divides.
  if (a.o_head->count() > 0 && a.o_head_kv->count() == 0 && hp.n_head_kv != 0 && hp.n_head % hp.n_head_kv != 0) {
    hp.n_head_kv = hp.n_head;
  }
  hp.tied_embeddings = a.tie_embeddings;

  model::SynthOptions options;
  options.hparams = hp;
  STRATA_ASSIGN_OR_RETURN(options.target, model::parse_quant_target(a.type));
  options.seed = a.seed;
  options.n_threads = std::max<size_t>(1, a.threads);
  options.rope_freqs = a.rope_freqs;
  options.vocab_path = a.vocab;
  options.n_vocab_given = a.o_vocab->count() > 0;
  if (!a.chat_template_file.empty()) {
    STRATA_ASSIGN_OR_RETURN(std::string text, read_template(a.chat_template_file));
    options.chat_template = std::move(text);
  }

  const auto start = std::chrono::steady_clock::now();
  ProgressBar bar("synth");
  STRATA_ASSIGN_OR_RETURN(const model::SynthSummary summary,
                          model::synth_model(options, a.output, [&](uint64_t done, uint64_t total) {
                            bar.update(done, total);
                          }));
  bar.finish();
  if (summary.n_fallback > 0) {
    std::fprintf(stderr, "strata synth: note: %zu tensors use a fallback type, e.g. %s\n", summary.n_fallback,
                 summary.first_fallback.c_str());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string params = summary.n_params >= 1000000000 ? fmt::format("{:.2f}B", summary.n_params / 1e9)
                                                             : fmt::format("{:.1f}M", summary.n_params / 1e6);
  fmt::print("wrote {}: {} {} ({} layers, n_embd {}, n_vocab {}), {} parameters, {} tensors, {:.1f} MB in {:.1f} s "
             "({:.0f} MB/s)\n",
             a.output, model::arch_name(hp.arch), options.target.name, hp.n_layer, hp.n_embd, summary.n_vocab, params,
             summary.n_tensors, summary.file_bytes / 1e6, seconds, seconds > 0 ? summary.file_bytes / 1e6 / seconds : 0.0);
  return {};
}

const bool registered = register_command({
    "synth",
    "write a GGUF with a real architecture and random weights (test and demo models)",
    70,
    [](CLI::App& app) -> Action {
      auto a = std::make_shared<SynthArgs>();
      app.add_option("-o,--output", a->output, "GGUF file to write")->required();
      app.add_option("--arch", a->arch, "architecture: llama or qwen2")->capture_default_str();
      app.add_option("--preset", a->preset, "shape preset: " + model::synth_preset_names())->capture_default_str();
      app.add_option("--type", a->type, "tensor type or mix: " + model::quant_target_names())->capture_default_str();
      a->o_embd = app.add_option("--n-embd", a->n_embd, "embedding width (overrides the preset)");
      a->o_layer = app.add_option("--n-layer", a->n_layer, "number of blocks");
      a->o_head = app.add_option("--n-head", a->n_head, "attention heads");
      a->o_head_kv = app.add_option("--n-head-kv", a->n_head_kv, "key/value heads (grouped-query attention)");
      a->o_ff = app.add_option("--n-ff", a->n_ff, "feed-forward width");
      a->o_ctx = app.add_option("--ctx", a->ctx, "training context length written to the metadata");
      a->o_vocab = app.add_option("--n-vocab", a->n_vocab, "vocabulary size (the demo vocabulary is padded to it)");
      app.add_option("--vocab", a->vocab, "copy tokenizer.* metadata from this GGUF (n_vocab = its token count)");
      app.add_option("--chat-template-file", a->chat_template_file, "Jinja chat template to embed");
      app.add_option("--seed", a->seed, "random seed (same seed and options: identical file)")->capture_default_str();
      app.add_option("-t,--threads", a->threads, "threads generating weights")->capture_default_str();
      app.add_flag("--tie-embeddings", a->tie_embeddings, "no output.weight: the head reuses token_embd");
      app.add_flag("--rope-freqs", a->rope_freqs, "add rope_freqs.weight (Llama-3.1 rope scaling factors)");
      return [a] { return run_synth(*a); };
    },
});

}  // namespace
}  // namespace strata::cli
