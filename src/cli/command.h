// Subcommand registry: each cmd_*.cpp registers one `strata <name>` at static-init time.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "core/status.h"

namespace strata::cli {

using Action = std::function<Status()>;

struct Command {
  std::string name;
  std::string description;
  int order;  // position in --help
  // Adds the options to `app` (already named) and returns what runs after parsing.
  std::function<Action(CLI::App& app)> setup;
};

bool register_command(Command command);

}  // namespace strata::cli
