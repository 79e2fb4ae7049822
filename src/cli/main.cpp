// strata: entry point; parses the command line and runs one subcommand.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "cli/command.h"
#include "core/log.h"

namespace strata::cli {
namespace {

std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

// llama.cpp spells some short options with several letters ("-ctk"), which CLI11 would read
// as "-c" with the value "tk". They are rewritten to their long forms before parsing, so every
// subcommand declares only the long name and accepts both spellings.
const std::map<std::string, std::string>& llama_cpp_short_options() {
  static const std::map<std::string, std::string> options = {
      {"-ctk", "--cache-type-k"}, {"-ctv", "--cache-type-v"}, {"-np", "--parallel"},
      {"-ngl", "--n-gpu-layers"}, {"-fa", "--flash-attn"},   {"-ts", "--tensor-split"},
      {"-sm", "--split-mode"},    {"-mg", "--main-gpu"},     {"-ub", "--ubatch-size"},
      {"-nkvo", "--no-kv-offload"},
  };
  return options;
}

std::vector<std::string> rewrite_short_options(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string flag = arg.substr(0, eq);
    if (auto it = llama_cpp_short_options().find(flag); it != llama_cpp_short_options().end()) {
      arg = it->second + (eq == std::string::npos ? "" : arg.substr(eq));
    }
    args.push_back(std::move(arg));
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last-first
  return args;
}

}  // namespace

bool register_command(Command command) {
  registry().push_back(std::move(command));
  return true;
}

int run_main(int argc, char** argv) {
  CLI::App app{"strata: run GGUF language models on one machine or split across several"};
  app.set_version_flag("--version", std::string("strata ") + STRATA_VERSION);
  app.require_subcommand(1);
  std::string log_level = "info";
  std::string log_format = "text";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  app.add_option("--log-format", log_format, "text or json (one JSON object per line)")
      ->capture_default_str();

  auto commands = registry();
  std::sort(commands.begin(), commands.end(), [](const Command& a, const Command& b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  std::map<CLI::App*, Action> actions;
  for (const Command& c : commands) {
    CLI::App* sub = app.add_subcommand(c.name, c.description);
    sub->fallthrough();  // --log-level may follow the subcommand name
    actions[sub] = c.setup(*sub);
  }

  try {
    std::vector<std::string> args = rewrite_short_options(argc, argv);
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One clear line, exit 1 (CLI11 would otherwise print several and use its own codes).
    std::string name = "strata";
    for (const CLI::App* sub : app.get_subcommands()) name += " " + sub->get_name();
    std::fprintf(stderr, "%s: error: %s (see '%s --help')\n", name.c_str(), e.what(), name.c_str());
    return 1;
  }

  auto level = parse_log_level(log_level);
  auto format = parse_log_format(log_format);
  if (!level.ok() || !format.ok()) {
    std::fprintf(stderr, "strata: error: %s\n",
                 (!level.ok() ? level.status() : format.status()).message().c_str());
    return 1;
  }
  setup_logging(*level, *format);

  for (auto& [sub, action] : actions) {
    if (!sub->parsed()) continue;
    Status status;
    try {
      status = action();
    } catch (const std::exception& e) {
      // Exceptions should not escape modules; if one does, it is still one line and exit 1.
      status = internal_error("{}", e.what());
    }
    if (!status.ok()) {
      std::fprintf(stderr, "strata %s: error: %s\n", sub->get_name().c_str(), status.message().c_str());
      return 1;
    }
    return 0;
  }
  return 1;
}

}  // namespace strata::cli

int main(int argc, char** argv) { return strata::cli::run_main(argc, argv); }
