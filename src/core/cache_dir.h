// Where strata keeps what it can make again (the demo model, stage identity records): the
// per-user cache directory.
#pragma once

#include <filesystem>

namespace strata {

// $STRATA_CACHE_DIR, else $XDG_CACHE_HOME/strata, else ~/.cache/strata, else
// <temp>/strata-cache. Not created here.
std::filesystem::path user_cache_dir();

}  // namespace strata
