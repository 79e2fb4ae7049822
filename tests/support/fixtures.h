// Locating ../shared/fixtures and the strata binary from tests.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace strata::testing {

// The reference fixtures folder: $STRATA_FIXTURES_DIR, else the configured default.
inline std::filesystem::path fixtures_dir() {
  if (const char* env = std::getenv("STRATA_FIXTURES_DIR"); env != nullptr && *env != 0) return env;
  return STRATA_DEFAULT_FIXTURES_DIR;
}

inline bool have_fixtures() { return std::filesystem::is_directory(fixtures_dir()); }

// The strata binary the CLI tests run: $STRATA_BINARY (a bundle copied to a GPU machine), else
// the one this build made.
inline std::filesystem::path strata_binary() {
  if (const char* env = std::getenv("STRATA_BINARY"); env != nullptr && *env != 0) return env;
  return STRATA_BINARY;
}
inline std::filesystem::path source_dir() { return STRATA_SOURCE_DIR; }

}  // namespace strata::testing

// Skips the current test with a message naming where fixtures were looked for.
#define STRATA_REQUIRE_FIXTURES()                                                          \
  do {                                                                                     \
    if (!::strata::testing::have_fixtures()) {                                             \
      GTEST_SKIP() << "reference fixtures not found at '"                                  \
                   << ::strata::testing::fixtures_dir().string()                           \
                   << "' (set STRATA_FIXTURES_DIR); skipping";                             \
    }                                                                                      \
  } while (0)
