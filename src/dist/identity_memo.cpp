// IdentityMemo: one small text file per (file, range), named by a hash of its key.
#include "dist/identity_memo.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <fmt/format.h>

namespace strata::dist {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "strata-stage-identity 1";

// Everything that must be unchanged for a record to hold; empty when the file cannot be stat'ed.
std::string file_key(const gguf::File& file, model::LayerRange range) {
  std::error_code ec;
  const fs::path path = fs::absolute(file.path(), ec);
  struct stat st {};
  if (ec || ::stat(path.c_str(), &st) != 0) return {};
  return fmt::format("{}\n{} {} {} {}.{:09} {}.{:09} layers {}-{}", path.string(), static_cast<uint64_t>(st.st_dev),
                     static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                     static_cast<int64_t>(st.st_mtim.tv_sec), static_cast<int64_t>(st.st_mtim.tv_nsec),
                     static_cast<int64_t>(st.st_ctim.tv_sec), static_cast<int64_t>(st.st_ctim.tv_nsec), range.begin,
                     range.end);
}

fs::path record_path(const fs::path& dir, const std::string& key) {
  return dir / fmt::format("{}.txt", hash_bytes({reinterpret_cast<const uint8_t*>(key.data()), key.size()}).hex());
}

std::optional<StageIdentity> read_record(const fs::path& path, const std::string& key) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  const std::string expected_head = fmt::format("{}\n{}\n", kMagic, key);
  const std::string all = text.str();
  if (all.compare(0, expected_head.size(), expected_head) != 0) return std::nullopt;
  std::istringstream rest(all.substr(expected_head.size()));
  std::string shape, content;
  uint64_t bytes = 0;
  if (!(rest >> shape >> content >> bytes)) return std::nullopt;
  auto s = parse_hash(shape);
  auto c = parse_hash(content);
  if (!s.ok() || !c.ok()) return std::nullopt;
  return StageIdentity{*s, *c, bytes};
}

}  // namespace

Result<StageIdentity> IdentityMemo::identity(const gguf::File& file, model::LayerRange range) const {
  const std::string key = dir_.empty() ? std::string() : file_key(file, range);
  if (!key.empty()) {
    if (auto known = read_record(record_path(dir_, key), key)) return *known;
  }
  STRATA_ASSIGN_OR_RETURN(StageIdentity id, stage_identity(file, range));
  if (!key.empty()) remember(file, range, id);
  return id;
}

void IdentityMemo::remember(const gguf::File& file, model::LayerRange range, const StageIdentity& id) const {
  if (dir_.empty()) return;
  const std::string key = file_key(file, range);
  if (key.empty()) return;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  const fs::path path = record_path(dir_, key);
  // Written whole under another name and renamed: a reader sees the old record or the new one.
  const fs::path tmp = path.string() + fmt::format(".{}.tmp", std::random_device{}());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << kMagic << '\n' << key << '\n' << id.shape.hex() << ' ' << id.content.hex() << ' ' << id.tensor_bytes << '\n';
    if (!out.flush()) {
      out.close();
      fs::remove(tmp, ec);
      spdlog::debug("cannot write the stage identity record {}; the next start hashes the stage again", path.string());
      return;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) fs::remove(tmp, ec);
}

}  // namespace strata::dist
