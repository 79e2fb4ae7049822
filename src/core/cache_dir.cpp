#include "core/cache_dir.h"

#include <cstdlib>

namespace strata {

std::filesystem::path user_cache_dir() {
  if (const char* dir = std::getenv("STRATA_CACHE_DIR"); dir != nullptr && *dir != '\0') return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::filesystem::path(xdg) / "strata";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::filesystem::path(home) / ".cache" / "strata";
  }
  std::error_code ec;
  return std::filesystem::temp_directory_path(ec) / "strata-cache";
}

}  // namespace strata
