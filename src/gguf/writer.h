// GGUF v3 writer: metadata and tensor infos up front, tensor data streamed in row chunks,
// written to a temporary file and renamed so a reader never sees a partial file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "gguf/value.h"
#include "quant/type.h"

namespace strata::gguf {

// Tensor data is produced in chunks of about this many bytes (whole rows, at least one).
inline constexpr uint64_t kWriteChunkBytes = uint64_t{16} << 20;
// A single row larger than this is refused: it would have to sit in memory at once.
inline constexpr uint64_t kMaxWriteRowBytes = uint64_t{1} << 30;

// Fills `out` with rows [row_begin, row_begin + n_rows) of the tensor (a row is ne[0]
// elements, out.size() == n_rows * row_bytes). Called with increasing row_begin.
using TensorFill = std::function<Status(std::span<uint8_t> out, uint64_t row_begin, uint64_t n_rows)>;

// Called after each chunk with bytes written so far and the total.
using WriteProgress = std::function<void(uint64_t done, uint64_t total)>;

class Writer {
 public:
  // Replaces an existing key in place (keeps its position), else appends. Setting
  // general.alignment also sets the alignment.
  void set(std::string key, Value value);
  // Also written as general.alignment (u32) when != 32; write() refuses a value that is not
  // a power of two from 1 to 2^31.
  void set_alignment(uint64_t alignment);
  // Checks the shape and type as the reader would (1-4 dims, each >= 1, ne[0] a multiple of
  // the block size, no overflow, unique name).
  Status add_tensor(std::string name, quant::Type type, std::vector<uint64_t> ne, TensorFill fill);

  uint64_t data_bytes() const;  // tensor data, padding included
  // Writes `<path>.tmp-<pid>` and renames it over `path`; on failure nothing is left behind.
  Status write(const std::filesystem::path& path, const WriteProgress& progress = {}) const;

 private:
  struct Tensor {
    std::string name;
    quant::Type type;
    std::vector<uint64_t> ne;
    uint64_t n_bytes;
    uint64_t row_bytes;
    uint64_t n_rows;
    TensorFill fill;
  };
  uint64_t alignment_ = 32;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<Tensor> tensors_;
};

}  // namespace strata::gguf
