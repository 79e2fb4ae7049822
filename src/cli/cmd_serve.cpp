// `strata serve`: the OpenAI-compatible HTTP server (llama-server's flags).
#include <fstream>
#include <sstream>
#include <string>

#include "cli/command.h"
#include "gguf/file.h"
#include "kv/cache_type.h"
#include "server/model_info.h"
#include "server/serve_options.h"

namespace strata::cli {
namespace {

Result<std::string> read_text_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open {} '{}'", what, path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return io_error("reading {} '{}' failed", what, path);
  return text.str();
}

Status serve(server::ServeOptions& options) {
  STRATA_TRY(server::finish_serve_options(options));
  STRATA_TRY(kv::parse_cache_type(options.cache_type_k).status().with_context("-ctk"));
  STRATA_TRY(kv::parse_cache_type(options.cache_type_v).status().with_context("-ctv"));

  server::ModelInfoOptions info_options;
  info_options.alias = options.alias;
  STRATA_ASSIGN_OR_RETURN(info_options.reasoning, server::parse_reasoning_format(options.reasoning_format));
  if (!options.chat_template_file.empty()) {
    STRATA_ASSIGN_OR_RETURN(info_options.template_source,
                            read_text_file(options.chat_template_file, "--chat-template-file"));
  }
  if (!options.model.empty()) {
    auto file = gguf::File::open(options.model);
    if (!file.ok()) return file.status();
    // Vocabulary and chat template are checked now, so a bad model fails before anything listens.
    auto info = server::load_model_info(*file, info_options);
    if (!info.ok()) return info.status().with_context(fmt::format("'{}'", options.model));
  }
  // The lead wires the engine's scheduler here: build a server::Generator over the loaded
  // model (-c, -np, -ctk/-ctv, -fa, -t, --queue-size), then
  //   server::HttpServer http(std::move(info), generator, server::to_server_options(options));
  //   bind(), run() until SIGINT/SIGTERM, stop().
  return unsupported("the inference scheduler is not built yet");
}

const bool registered = register_command({
    .name = "serve",
    .description = "serve a model over an OpenAI-compatible HTTP API (llama-server's flags)",
    .order = 10,
    .setup =
        [](CLI::App& app) -> Action {
          auto options = std::make_shared<server::ServeOptions>();
          server::add_serve_flags(app, *options);
          return [options] { return serve(*options); };
        },
});

}  // namespace
}  // namespace strata::cli
