// StageCache: verified, atomic stage files under --cache-dir.
#include "dist/stage_cache.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <set>
#include <system_error>

#include "dist/identity_memo.h"
#include "dist/stage_identity.h"
#include "gguf/writer.h"
#include "quant/type.h"

namespace strata::dist {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxMetadataEntries = 4096;
constexpr size_t kMaxTensors = 100000;
constexpr size_t kMaxStringBytes = 1 << 20;
// Far above any real row (28672 f32 = 112 KiB) and low enough that the writer's row buffer
// cannot be made to take a gigabyte.
constexpr uint64_t kMaxRowBytes = uint64_t{16} << 20;

v1::MetaEntry meta_entry(const std::string& key, const gguf::Value& value) {
  using VT = gguf::ValueType;
  v1::MetaEntry e;
  e.set_key(key);
  e.set_type(static_cast<uint32_t>(value.type()));
  switch (value.type()) {
    case VT::kString: e.set_s(*value.as_string()); break;
    case VT::kBool: e.set_u(value.as_bool().value_or(false) ? 1 : 0); break;
    case VT::kFloat32:
    case VT::kFloat64: e.set_f(value.as_number().value_or(0.0)); break;
    case VT::kInt8:
    case VT::kInt16:
    case VT::kInt32:
    case VT::kInt64: e.set_i(value.as_int().value_or(0)); break;
    case VT::kArray:
      e.set_array_type(static_cast<uint32_t>(value.array_type()));
      if (const auto* bytes = value.numeric_bytes(); bytes != nullptr) {
        e.set_array_bytes(bytes->data(), bytes->size());
      } else if (const auto* strings = value.strings(); strings != nullptr) {
        for (const auto& s : *strings) e.add_array_strings(s);
      }
      break;
    default: e.set_u(value.as_uint().value_or(0)); break;
  }
  return e;
}

Result<gguf::Value> to_value(const v1::MetaEntry& e) {
  using VT = gguf::ValueType;
  if (!gguf::is_known_value_type(e.type())) {
    return invalid_argument("metadata {}: value type {} is not a GGUF type", e.key(), e.type());
  }
  switch (static_cast<VT>(e.type())) {
    case VT::kUint8: return gguf::Value::from_u8(static_cast<uint8_t>(e.u()));
    case VT::kInt8: return gguf::Value::from_i8(static_cast<int8_t>(e.i()));
    case VT::kUint16: return gguf::Value::from_u16(static_cast<uint16_t>(e.u()));
    case VT::kInt16: return gguf::Value::from_i16(static_cast<int16_t>(e.i()));
    case VT::kUint32: return gguf::Value::from_u32(static_cast<uint32_t>(e.u()));
    case VT::kInt32: return gguf::Value::from_i32(static_cast<int32_t>(e.i()));
    case VT::kUint64: return gguf::Value::from_u64(e.u());
    case VT::kInt64: return gguf::Value::from_i64(e.i());
    case VT::kFloat32: return gguf::Value::from_f32(static_cast<float>(e.f()));
    case VT::kFloat64: return gguf::Value::from_f64(e.f());
    case VT::kBool: return gguf::Value::from_bool(e.u() != 0);
    case VT::kString: return gguf::Value::from_string(e.s());
    case VT::kArray: break;
  }
  if (e.array_type() == static_cast<uint32_t>(VT::kString)) {
    return gguf::Value::from_string_array({e.array_strings().begin(), e.array_strings().end()});
  }
  if (!gguf::is_known_value_type(e.array_type()) || e.array_type() == static_cast<uint32_t>(VT::kArray)) {
    return invalid_argument("metadata {}: array element type {} is not a numeric GGUF type", e.key(), e.array_type());
  }
  const uint32_t size = gguf::value_type_size(static_cast<VT>(e.array_type()));
  if (size == 0 || e.array_bytes().size() % size != 0) {
    return invalid_argument("metadata {}: {} array bytes are not whole elements of {} bytes", e.key(),
                            e.array_bytes().size(), size);
  }
  return gguf::Value::from_numeric_array(static_cast<VT>(e.array_type()),
                                         std::vector<uint8_t>(e.array_bytes().begin(), e.array_bytes().end()));
}

// Pulls exactly the bytes the writer asks for, in order, from the upload's data chunks.
class ChunkReader {
 public:
  ChunkReader(const ChunkSource& next, uint64_t total) : next_(next), left_(total) {}

  Status read(std::span<uint8_t> out) {
    size_t done = 0;
    while (done < out.size()) {
      if (pos_ == chunk_.size()) {
        STRATA_ASSIGN_OR_RETURN(std::optional<std::string> chunk, next_());
        if (!chunk.has_value()) {
          return corrupt("the upload ended {} bytes before the end of the stage's tensor data", left_);
        }
        if (chunk->size() > left_) {
          return corrupt("the upload sent {} bytes more tensor data than its header announced",
                         chunk->size() - left_);
        }
        chunk_ = std::move(*chunk);
        pos_ = 0;
        left_ -= chunk_.size();
        continue;
      }
      const size_t n = std::min(out.size() - done, chunk_.size() - pos_);
      std::memcpy(out.data() + done, chunk_.data() + pos_, n);
      done += n;
      pos_ += n;
    }
    return {};
  }

  // After the last tensor: nothing may follow.
  Status finish() {
    if (pos_ != chunk_.size() || left_ != 0) return corrupt("the upload sent more data than its tensors hold");
    STRATA_ASSIGN_OR_RETURN(std::optional<std::string> chunk, next_());
    if (chunk.has_value()) return corrupt("the upload sent {} bytes after the last tensor", chunk->size());
    return {};
  }

 private:
  const ChunkSource& next_;
  uint64_t left_;
  std::string chunk_;
  size_t pos_ = 0;
};

}  // namespace

Result<v1::UploadHeader> make_upload_header(const gguf::File& file, model::LayerRange range,
                                            const StageIdentity& identity, uint32_t n_vocab) {
  STRATA_ASSIGN_OR_RETURN(auto tensors, stage_tensors(file, range));
  v1::UploadHeader header;
  header.set_content_hash(identity.content.hex());
  header.set_shape_hash(identity.shape.hex());
  header.set_layer_begin(range.begin);
  header.set_layer_end(range.end);
  for (const auto* entry : stage_metadata(file)) *header.add_metadata() = meta_entry(entry->first, entry->second);
  *header.add_metadata() = meta_entry(file.architecture() + ".vocab_size", gguf::Value::from_u32(n_vocab));
  uint64_t total = 0;
  for (const auto* t : tensors) {
    v1::TensorHeader* th = header.add_tensors();
    th->set_name(t->name);
    th->set_type(static_cast<uint32_t>(t->type));
    for (uint64_t d : t->ne) th->add_ne(d);
    total += t->data.size();
  }
  header.set_data_bytes(total);
  return header;
}

Status check_upload_header(const v1::UploadHeader& header) {
  STRATA_TRY(parse_hash(header.content_hash()).status());
  STRATA_TRY(parse_hash(header.shape_hash()).status());
  if (header.layer_begin() >= header.layer_end() || header.layer_end() > 512) {
    return invalid_argument("upload: layer range [{}, {}) is empty or beyond 512 layers", header.layer_begin(),
                            header.layer_end());
  }
  if (header.metadata_size() > static_cast<int>(kMaxMetadataEntries) || header.tensors_size() == 0 ||
      header.tensors_size() > static_cast<int>(kMaxTensors)) {
    return invalid_argument("upload: {} metadata entries and {} tensors; a stage has 1 to {} tensors and at most {} "
                            "entries",
                            header.metadata_size(), header.tensors_size(), kMaxTensors, kMaxMetadataEntries);
  }
  for (const auto& e : header.metadata()) {
    if (e.key().empty() || e.key().size() > 256 || e.s().size() > kMaxStringBytes) {
      return invalid_argument("upload: a metadata key or string is empty or too long");
    }
  }
  const model::LayerRange range{header.layer_begin(), header.layer_end()};
  uint64_t total = 0;
  std::set<std::string> names;
  for (const auto& t : header.tensors()) {
    const std::string& name = t.name();
    bool allowed = name == "rope_freqs.weight";
    if (!allowed && name.rfind("blk.", 0) == 0) {
      size_t i = 4;
      uint64_t layer = 0;
      while (i < name.size() && i < 14 && name[i] >= '0' && name[i] <= '9') layer = layer * 10 + (name[i++] - '0');
      allowed = i > 4 && i < name.size() && name[i] == '.' && layer >= range.begin && layer < range.end &&
                name.size() < 128;
    }
    if (!allowed) {
      return invalid_argument("upload: tensor '{}' is not part of layers {} to {}", name.substr(0, 128), range.begin,
                              range.end - 1);
    }
    if (!names.insert(name).second) return invalid_argument("upload: tensor '{}' is listed twice", name);
    const quant::TypeInfo* type = quant::find_type(t.type());
    if (type == nullptr) return invalid_argument("upload: tensor '{}' has unknown type id {}", name, t.type());
    if (t.ne_size() < 1 || t.ne_size() > 4) {
      return invalid_argument("upload: tensor '{}' has {} dims; use 1 to 4", name, t.ne_size());
    }
    uint64_t rows = 1;
    for (int d = 1; d < t.ne_size(); ++d) {
      if (t.ne(d) == 0 || rows > (uint64_t{1} << 40) / t.ne(d)) {
        return invalid_argument("upload: tensor '{}' has a zero or huge dimension", name);
      }
      rows *= t.ne(d);
    }
    if (t.ne(0) == 0 || t.ne(0) > (uint64_t{1} << 32)) {
      return invalid_argument("upload: tensor '{}' has rows of {} elements", name, t.ne(0));
    }
    STRATA_ASSIGN_OR_RETURN(const uint64_t row, quant::row_bytes(type->type, t.ne(0)));
    if (row > kMaxRowBytes) {
      return invalid_argument("upload: tensor '{}' has rows of {} bytes; at most {} are accepted", name, row,
                              kMaxRowBytes);
    }
    if (row != 0 && rows > (uint64_t{1} << 46) / row) return invalid_argument("upload: tensor '{}' is too large", name);
    total += row * rows;
  }
  if (total != header.data_bytes()) {
    return invalid_argument("upload: the header announces {} data bytes but its tensors hold {}", header.data_bytes(),
                            total);
  }
  return {};
}

Result<StageCache> StageCache::open(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir / "incoming", ec);
  if (ec) return io_error("cannot create the cache folder '{}': {}", dir.string(), ec.message());
  // Only files this cache wrote live in incoming/: leftovers of a killed upload.
  for (const auto& entry : fs::directory_iterator(dir / "incoming", ec)) {
    std::error_code rm;
    if (entry.is_regular_file(rm)) fs::remove(entry.path(), rm);
  }
  StageCache cache;
  cache.dir_ = dir;
  return cache;
}

fs::path StageCache::entry_path(const Hash128& content) const {
  return dir_ / fmt::format("stage-{}.gguf", content.hex());
}

Result<std::optional<gguf::File>> StageCache::find(const Hash128& content, model::LayerRange range) const {
  const fs::path path = entry_path(content);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::optional<gguf::File>{};
  auto file = gguf::File::open(path);
  Status problem;
  if (file.ok()) {
    // Verified when it was written; hashed again only if the file changed since (identity_memo.h).
    auto id = IdentityMemo(dir_ / "identities").identity(*file, range);
    if (id.ok() && id->content == content) return std::optional<gguf::File>(*file);
    problem = id.ok() ? corrupt("its hash is {}", id->content.hex()) : id.status();
  } else {
    problem = file.status();
  }
  spdlog::warn("cache entry {} does not hold the stage it is named after ({}); removing it", path.string(),
               problem.message());
  fs::remove(path, ec);
  return std::optional<gguf::File>{};
}

Status StageCache::receive(const v1::UploadHeader& header, const ChunkSource& next, uint64_t max_bytes) const {
  STRATA_TRY(check_upload_header(header));
  if (header.data_bytes() > max_bytes) {
    return resource_exhausted("the stage's {} bytes exceed the {} bytes this worker offers (--mem)",
                              header.data_bytes(), max_bytes);
  }
  STRATA_ASSIGN_OR_RETURN(const Hash128 content, parse_hash(header.content_hash()));
  gguf::Writer writer;
  for (const auto& e : header.metadata()) {
    STRATA_ASSIGN_OR_RETURN(gguf::Value value, to_value(e));
    writer.set(e.key(), std::move(value));
  }
  ChunkReader reader(next, header.data_bytes());
  for (const auto& t : header.tensors()) {
    std::vector<uint64_t> ne(t.ne().begin(), t.ne().end());
    const auto type = static_cast<quant::Type>(t.type());
    STRATA_TRY(writer.add_tensor(t.name(), type, ne,
                                 [&reader](std::span<uint8_t> out, uint64_t, uint64_t) { return reader.read(out); }));
  }
  const fs::path incoming = dir_ / "incoming" / entry_path(content).filename();
  STRATA_TRY(writer.write(incoming));
  std::error_code ec;
  Status status = reader.finish();
  const model::LayerRange range{header.layer_begin(), header.layer_end()};
  StageIdentity received;
  if (status.ok()) {
    auto file = gguf::File::open(incoming);
    if (!file.ok()) {
      status = file.status();
    } else {
      auto id = stage_identity(*file, range);
      if (!id.ok()) {
        status = id.status();
      } else if (id->content == content) {
        received = *id;
      } else {
        status = corrupt("the received stage hashes to {}, not the {} the coordinator announced; nothing was kept",
                         id->content.hex(), content.hex());
      }
    }
  }
  if (!status.ok()) {
    fs::remove(incoming, ec);
    return status;
  }
  fs::rename(incoming, entry_path(content), ec);
  if (ec) {
    fs::remove(incoming, ec);
    return io_error("moving the received stage into the cache '{}' failed: {}", dir_.string(), ec.message());
  }
  // Remember the verified hash under the entry's final name, so the next prepare does not read
  // the whole stage again.
  if (auto entry = gguf::File::open(entry_path(content)); entry.ok()) {
    IdentityMemo(dir_ / "identities").remember(*entry, range, received);
  }
  return {};
}

}  // namespace strata::dist
