// The chat page's files (src/server/web/), compiled into the binary by a CMake step.
#pragma once

#include <span>
#include <string_view>

namespace strata::server {

struct WebAsset {
  std::string_view path;          // URL path, e.g. "/" or "/chat.js"
  std::string_view content_type;
  std::string_view body;
};

std::span<const WebAsset> web_assets();
const WebAsset* find_web_asset(std::string_view path);

}  // namespace strata::server
