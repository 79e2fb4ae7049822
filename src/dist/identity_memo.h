// Stage identities remembered across restarts. Hashing a stage reads every byte of its tensors
// (550 MB for the 1b model, 40 GB for a 70B: seconds to minutes), and a coordinator or worker
// restart with unchanged files would otherwise pay that again before it can serve.
#pragma once

#include <filesystem>

#include "core/status.h"
#include "dist/stage_identity.h"
#include "gguf/file.h"
#include "model/weights.h"

namespace strata::dist {

// A record per (file, layer range) in `dir`, keyed by the file's path and what the file system
// says changes whenever its bytes do: device, inode, size, modification and change times in
// nanoseconds. A file rewritten in any way (even with its old mtime restored: the change time
// moves) is hashed again. The records are hints: a missing, unreadable or stale one only costs
// the hash; a directory that cannot be written is not an error.
class IdentityMemo {
 public:
  IdentityMemo() = default;  // remembers nothing: every call hashes
  explicit IdentityMemo(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // stage_identity(file, range), from the record when the file is unchanged since it was written.
  Result<StageIdentity> identity(const gguf::File& file, model::LayerRange range) const;

  // Records an identity computed (or verified) elsewhere, e.g. after receiving a stage.
  void remember(const gguf::File& file, model::LayerRange range, const StageIdentity& id) const;

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

}  // namespace strata::dist
