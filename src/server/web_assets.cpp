// Lookup over the embedded chat page files (the data is generated: web_assets_data.cpp).
#include "server/web_assets.h"

namespace strata::server {

const WebAsset* find_web_asset(std::string_view path) {
  for (const WebAsset& asset : web_assets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

}  // namespace strata::server
