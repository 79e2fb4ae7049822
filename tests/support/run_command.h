// Runs a command line (the strata binary in CLI tests) and captures its exit code and output.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace strata::testing {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together, in order
};

// `command` is passed to /bin/sh; a 120 s timeout guards against hangs.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  const std::string full = "timeout 120 " + command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace strata::testing
