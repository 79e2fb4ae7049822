// A worker's cache of stages received from coordinators: one GGUF per stage identity, named
// after its content hash, written to incoming/ and renamed into place only once its hash is
// verified, so an interrupted or forged transfer never leaves an entry.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "core/content_hash.h"
#include "core/status.h"
#include "dist/stage_identity.h"
#include "dist/proto/worker.pb.h"
#include "gguf/file.h"
#include "model/weights.h"

namespace strata::dist {

// The next data chunk of an upload; nullopt when the stream has ended.
using ChunkSource = std::function<Result<std::optional<std::string>>()>;

class StageCache {
 public:
  // Creates the folder when missing and removes what an interrupted upload left in incoming/.
  static Result<StageCache> open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path entry_path(const Hash128& content) const;

  // The entry for this identity, checked against the hash; nullopt when there is none. An entry
  // whose bytes no longer match is removed (and reported as absent).
  Result<std::optional<gguf::File>> find(const Hash128& content, model::LayerRange range) const;

  // Writes the stage described by `header` with the data `next` yields, verifies its hash and
  // moves it into place. `max_bytes` bounds the data a peer may send.
  Status receive(const v1::UploadHeader& header, const ChunkSource& next, uint64_t max_bytes) const;

 private:
  std::filesystem::path dir_;
};

// The header a coordinator sends before a stage's tensor data: the stage's metadata (plus
// <arch>.vocab_size, which read_hparams needs without a tokenizer) and its tensors in
// stage_tensors order.
Result<v1::UploadHeader> make_upload_header(const gguf::File& file, model::LayerRange range,
                                            const StageIdentity& identity, uint32_t n_vocab);

// The header's tensors and metadata checked against what a stage of the range may hold (names
// blk.<i>.* within the range or rope_freqs.weight, known types, sizes that add up).
Status check_upload_header(const v1::UploadHeader& header);

}  // namespace strata::dist
