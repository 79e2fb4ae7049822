// GGUF v3 writer: header and tables in memory, tensor data streamed to a temporary file.
#include "gguf/writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>

#include "gguf/file.h"
#include "gguf/parser.h"
#include "gguf/value_codec.h"

namespace strata::gguf {
namespace {

constexpr uint64_t kMaxDim = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

uint64_t padding_for(uint64_t n, uint64_t alignment) {
  return alignment == 0 ? 0 : (alignment - n % alignment) % alignment;
}

// The temporary output file: removed unless commit() renamed it into place.
class TempFile {
 public:
  TempFile(std::filesystem::path target)
      : target_(std::move(target)),
        temp_(target_.string() + ".tmp-" + std::to_string(::getpid())) {}
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  Status open() {
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return io_error("cannot create '{}': {}", temp_.string(), std::strerror(errno));
    return {};
  }

  Status write(const uint8_t* data, uint64_t n) {
    while (n > 0) {
      const ssize_t done = ::write(fd_, data, std::min<uint64_t>(n, uint64_t{1} << 30));
      if (done < 0) {
        if (errno == EINTR) continue;
        return io_error("cannot write '{}': {}", temp_.string(), std::strerror(errno));
      }
      data += done;
      n -= static_cast<uint64_t>(done);
    }
    return {};
  }

  Status write_zeros(uint64_t n) {
    static constexpr uint8_t kZeros[4096] = {};
    while (n > 0) {
      const uint64_t k = std::min<uint64_t>(n, sizeof kZeros);
      STRATA_TRY(write(kZeros, k));
      n -= k;
    }
    return {};
  }

  // Flushes to disk before the rename so a crash never leaves a renamed but partial file.
  Status commit() {
    if (::fsync(fd_) != 0)
      return io_error("cannot sync '{}': {}", temp_.string(), std::strerror(errno));
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return io_error("cannot close '{}': {}", temp_.string(), std::strerror(errno));
    if (::rename(temp_.c_str(), target_.c_str()) != 0) {
      return io_error("cannot rename '{}' to '{}': {}", temp_.string(), target_.string(),
                      std::strerror(errno));
    }
    committed_ = true;
    return {};
  }

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void Writer::set(std::string key, Value value) {
  if (key == "general.alignment") alignment_ = value.as_uint().value_or(0);
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

void Writer::set_alignment(uint64_t alignment) {
  const bool present = std::any_of(metadata_.begin(), metadata_.end(),
                                   [](const auto& kv) { return kv.first == "general.alignment"; });
  if (alignment != kDefaultAlignment || present) {
    set("general.alignment", alignment <= std::numeric_limits<uint32_t>::max()
                                 ? Value::from_u32(static_cast<uint32_t>(alignment))
                                 : Value::from_u64(alignment));
  }
  alignment_ = alignment;
}

Status Writer::add_tensor(std::string name, quant::Type type, std::vector<uint64_t> ne,
                          TensorFill fill) {
  if (name.empty()) return invalid_argument("tensor name is empty");
  const std::string where = fmt::format("tensor '{}'", name);
  for (const Tensor& t : tensors_) {
    if (t.name == name) return invalid_argument("{} was already added", where);
  }
  const quant::TypeInfo* info = quant::find_type(static_cast<uint32_t>(type));
  if (info == nullptr) {
    return invalid_argument("{}: type id {} is not a known tensor type", where,
                            static_cast<uint32_t>(type));
  }
  if (ne.empty() || ne.size() > kMaxDims) {
    return invalid_argument("{}: {} dimensions, expected 1 to {}", where, ne.size(), kMaxDims);
  }
  uint64_t n_elements = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] < 1 || ne[d] > kMaxDim) {
      return invalid_argument("{}: ne[{}] is {}, expected 1 to {}", where, d, ne[d], kMaxDim);
    }
    if (__builtin_mul_overflow(n_elements, ne[d], &n_elements) || n_elements > kMaxDim) {
      return invalid_argument("{}: the shape has more than {} elements", where, kMaxDim);
    }
  }
  auto row = quant::row_bytes(type, ne[0]);
  if (!row.ok()) return std::move(row).status().with_context(where);
  if (*row > kMaxWriteRowBytes) {
    return invalid_argument("{}: a row is {} bytes, more than the writer's limit of {}", where,
                            *row, kMaxWriteRowBytes);
  }
  const uint64_t n_rows = n_elements / ne[0];
  uint64_t n_bytes = 0;
  if (__builtin_mul_overflow(*row, n_rows, &n_bytes)) {
    return invalid_argument("{}: the data size overflows 64 bits", where);
  }
  if (!fill) return invalid_argument("{}: no TensorFill given", where);
  tensors_.push_back(
      Tensor{std::move(name), type, std::move(ne), n_bytes, *row, n_rows, std::move(fill)});
  return {};
}

uint64_t Writer::data_bytes() const {
  uint64_t total = 0;
  for (const Tensor& t : tensors_) total += t.n_bytes + padding_for(t.n_bytes, alignment_);
  return total;
}

Status Writer::write(const std::filesystem::path& path, const WriteProgress& progress) const {
  const std::string context = fmt::format("writing '{}'", path.string());
  if (alignment_ == 0 || !std::has_single_bit(alignment_) || alignment_ > kMaxAlignment) {
    return invalid_argument("alignment {} is not a power of two from 1 to {}", alignment_,
                            kMaxAlignment)
        .with_context(context);
  }
  for (const auto& [key, value] : metadata_) {
    if (key.empty()) return invalid_argument("a metadata key is empty").with_context(context);
    STRATA_TRY(
        check_encodable(value).with_context(fmt::format("{}: metadata key '{}'", context, key)));
  }

  std::vector<uint8_t> header;
  append_u32(header, kMagic);
  append_u32(header, 3);
  append_u64(header, tensors_.size());
  append_u64(header, metadata_.size());
  for (const auto& [key, value] : metadata_) {
    append_string(header, key);
    append_u32(header, static_cast<uint32_t>(value.type()));
    append_value(header, value);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    append_string(header, t.name);
    append_u32(header, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) append_u64(header, d);
    append_u32(header, static_cast<uint32_t>(t.type));
    append_u64(header, offset);
    const uint64_t padded = t.n_bytes + padding_for(t.n_bytes, alignment_);
    if (__builtin_add_overflow(offset, padded, &offset)) {
      return invalid_argument("tensor data exceeds 64-bit offsets").with_context(context);
    }
  }
  // A file without tensors ends after its metadata, as the reader allows.
  if (!tensors_.empty()) header.resize(header.size() + padding_for(header.size(), alignment_), 0);
  uint64_t total = 0;
  if (__builtin_add_overflow(header.size(), offset, &total)) {
    return invalid_argument("file size exceeds 64 bits").with_context(context);
  }

  TempFile out(path);
  STRATA_TRY(out.open().with_context(context));
  STRATA_TRY(out.write(header.data(), header.size()).with_context(context));
  uint64_t done = header.size();
  if (progress) progress(done, total);

  std::vector<uint8_t> buffer;
  for (const Tensor& t : tensors_) {
    const uint64_t rows_per_chunk = std::max<uint64_t>(1, kWriteChunkBytes / t.row_bytes);
    const uint64_t chunk_rows = std::min(rows_per_chunk, t.n_rows);
    if (buffer.size() < chunk_rows * t.row_bytes) buffer.resize(chunk_rows * t.row_bytes);
    for (uint64_t row = 0; row < t.n_rows; row += chunk_rows) {
      const uint64_t n = std::min(chunk_rows, t.n_rows - row);
      const std::span<uint8_t> chunk(buffer.data(), n * t.row_bytes);
      Status filled = t.fill(chunk, row, n);
      if (!filled.ok()) {
        return std::move(filled).with_context(
            fmt::format("{}: tensor '{}' rows {}-{}", context, t.name, row, row + n - 1));
      }
      STRATA_TRY(out.write(chunk.data(), chunk.size()).with_context(context));
      done += chunk.size();
      if (progress) progress(done, total);
    }
    const uint64_t pad = padding_for(t.n_bytes, alignment_);
    STRATA_TRY(out.write_zeros(pad).with_context(context));
    done += pad;
  }
  return out.commit().with_context(context);
}

}  // namespace strata::gguf
