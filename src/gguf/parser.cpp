// Parses and validates a GGUF v2/v3 file: header, metadata, tensor table and data layout.
#include "gguf/parser.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <limits>
#include <optional>
#include <string>

#include "gguf/byte_reader.h"
#include "gguf/value_codec.h"

namespace strata::gguf {
namespace {

constexpr uint64_t kMaxDim = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// A name from the file, safe to print: control and non-ASCII bytes escaped, long names cut.
std::string printable(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7F || c == '\'' || c == '\\') {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMax) out += fmt::format("... ({} bytes)", s.size());
  return out;
}

std::string describe_magic(const uint8_t* p) {
  std::string text;
  for (int i = 0; i < 4; ++i) text += (p[i] >= 0x20 && p[i] < 0x7F) ? static_cast<char>(p[i]) : '.';
  return fmt::format("{:02x} {:02x} {:02x} {:02x} \"{}\"", p[0], p[1], p[2], p[3], text);
}

constexpr uint32_t byteswap32(uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}
bool add_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_add_overflow(a, b, out);
}

// "0-3, 6-30, 34, 35, 39": the ids find_type accepts, as ranges.
std::string known_type_ids() {
  std::vector<uint32_t> ids;
  for (const quant::TypeInfo& t : quant::all_types()) ids.push_back(static_cast<uint32_t>(t.type));
  std::sort(ids.begin(), ids.end());
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!out.empty()) out += ", ";
    out += j > i + 1 ? fmt::format("{}-{}", ids[i], ids[j]) : fmt::format("{}", ids[i]);
    if (j == i + 1) out += fmt::format(", {}", ids[j]);
    i = j + 1;
  }
  return out;
}

class Parse {
 public:
  explicit Parse(std::span<const uint8_t> bytes) : reader_(bytes) {}

  Status header(uint32_t* version, uint64_t* tensor_count, uint64_t* kv_count);
  Status metadata(uint64_t kv_count, std::vector<std::pair<std::string, Value>>* out);
  Result<TensorInfo> tensor_info(uint64_t alignment);
  uint64_t position() const { return reader_.position(); }

 private:
  ByteReader reader_;
};

Status Parse::header(uint32_t* version, uint64_t* tensor_count, uint64_t* kv_count) {
  const uint64_t size = reader_.size();
  if (size == 0) return corrupt("not a GGUF file: the file is empty (0 bytes)");
  if (size < 4) {
    return corrupt("not a GGUF file: {} bytes, too short to hold the 4-byte magic \"GGUF\"", size);
  }
  const uint8_t* start = reader_.current();
  STRATA_ASSIGN_OR_RETURN(const uint32_t magic, reader_.read<uint32_t>("magic"));
  if (magic == byteswap32(kMagic)) {
    return unsupported(
        "big-endian GGUF file (magic bytes {}); strata reads little-endian GGUF "
        "only: convert the model again on a little-endian machine",
        describe_magic(start));
  }
  if (magic != kMagic) {
    return corrupt("not a GGUF file (magic bytes {}, expected 47 47 55 46 \"GGUF\")",
                   describe_magic(start));
  }
  STRATA_ASSIGN_OR_RETURN(*version, reader_.read<uint32_t>("version"));
  const uint32_t swapped = byteswap32(*version);
  if (*version != 2 && *version != 3) {
    if (swapped >= 1 && swapped <= 3) {
      return unsupported(
          "big-endian GGUF file (version {} stored big-endian as {:#010x}); strata "
          "reads little-endian GGUF only: convert the model again without "
          "--bigendian",
          swapped, *version);
    }
    if (*version == 1) {
      return unsupported(
          "GGUF version 1 is not supported: it used 32-bit counts and was replaced "
          "by version 2 in 2023; convert the model again with a current converter "
          "(versions 2 and 3 are read)");
    }
    if (*version == 0) return corrupt("GGUF version 0 is not a valid version (expected 2 or 3)");
    return unsupported("GGUF version {} is newer than strata understands (versions 2 and 3)",
                       *version);
  }
  STRATA_ASSIGN_OR_RETURN(*tensor_count, reader_.read<uint64_t>("tensor count"));
  STRATA_ASSIGN_OR_RETURN(*kv_count, reader_.read<uint64_t>("metadata count"));

  // Reject counts the file cannot hold before anything is reserved for them.
  const uint64_t left = reader_.remaining();
  if (*kv_count > left / kMinMetadataEntryBytes) {
    return corrupt(
        "metadata count {} cannot fit: each entry takes at least {} bytes and only {} "
        "bytes follow the header",
        *kv_count, kMinMetadataEntryBytes, left);
  }
  const uint64_t left_for_tensors = left - *kv_count * kMinMetadataEntryBytes;
  if (*tensor_count > left_for_tensors / kMinTensorInfoBytes) {
    return corrupt(
        "tensor count {} cannot fit: each tensor info takes at least {} bytes and only "
        "{} bytes are left after {} metadata entries of at least {} bytes",
        *tensor_count, kMinTensorInfoBytes, left_for_tensors, *kv_count, kMinMetadataEntryBytes);
  }
  return {};
}

Status Parse::metadata(uint64_t kv_count, std::vector<std::pair<std::string, Value>>* out) {
  out->reserve(reserve_hint(kv_count));
  for (uint64_t i = 0; i < kv_count; ++i) {
    const uint64_t at = reader_.position();
    auto key = reader_.read_string("metadata key");
    if (!key.ok())
      return std::move(key).status().with_context(fmt::format("metadata entry #{}", i));
    if (key->empty()) return corrupt("metadata entry #{} at byte {} has an empty key", i, at);
    const std::string where = fmt::format("metadata key '{}' (entry #{})", printable(*key), i);
    const uint64_t type_at = reader_.position();
    auto type_id = reader_.read<uint32_t>("value type");
    if (!type_id.ok()) return std::move(type_id).status().with_context(where);
    if (!is_known_value_type(*type_id)) {
      return corrupt("{}: value type id {} at byte {} is not a GGUF value type (0-12)", where,
                     *type_id, type_at);
    }
    auto value = read_value(reader_, static_cast<ValueType>(*type_id));
    if (!value.ok()) return std::move(value).status().with_context(where);
    out->emplace_back(std::string(*key), std::move(*value));
  }
  return {};
}

Result<TensorInfo> Parse::tensor_info(uint64_t alignment) {
  TensorInfo info;
  const uint64_t at = reader_.position();
  STRATA_ASSIGN_OR_RETURN(const std::string_view name, reader_.read_string("tensor name"));
  if (name.empty()) return corrupt("tensor info at byte {} has an empty name", at);
  info.name = std::string(name);
  const std::string where = fmt::format("tensor '{}'", printable(name));
  auto fail = [&](Status s) { return std::move(s).with_context(where); };

  auto n_dims = reader_.read<uint32_t>("n_dims");
  if (!n_dims.ok()) return fail(std::move(n_dims).status());
  if (*n_dims < 1 || *n_dims > kMaxDims) {
    return fail(corrupt("n_dims is {}, expected 1 to {}", *n_dims, kMaxDims));
  }
  info.ne.resize(*n_dims);
  uint64_t n_elements = 1;
  for (uint32_t d = 0; d < *n_dims; ++d) {
    auto dim = reader_.read<uint64_t>("tensor dimension");
    if (!dim.ok()) return fail(std::move(dim).status());
    if (*dim < 1 || *dim > kMaxDim) {
      return fail(corrupt("ne[{}] is {}, expected 1 to {}", d, *dim, kMaxDim));
    }
    info.ne[d] = *dim;
    if (mul_overflows(n_elements, *dim, &n_elements) || n_elements > kMaxDim) {
      return fail(corrupt("shape [{}] has more than {} elements (the product overflows)",
                          fmt::join(info.ne.begin(), info.ne.begin() + d + 1, ", "), kMaxDim));
    }
  }
  info.n_elements = n_elements;

  auto type_id = reader_.read<uint32_t>("tensor type");
  if (!type_id.ok()) return fail(std::move(type_id).status());
  const quant::TypeInfo* type = quant::find_type(*type_id);
  if (type == nullptr) {
    return fail(
        unsupported("type id {} is not a tensor type strata knows (known ids: {}); the file "
                    "may need a newer strata",
                    *type_id, known_type_ids()));
  }
  info.type = type->type;
  if (type->block_size == 0 || info.ne[0] % type->block_size != 0) {
    return fail(corrupt("ne[0] = {} is not a multiple of {}'s block size {}", info.ne[0],
                        type->name, type->block_size));
  }
  uint64_t row_bytes = 0;
  if (mul_overflows(info.ne[0] / type->block_size, type->block_bytes, &row_bytes) ||
      mul_overflows(row_bytes, n_elements / info.ne[0], &info.n_bytes)) {
    return fail(corrupt("size of {} elements of {} overflows 64 bits", n_elements, type->name));
  }

  auto offset = reader_.read<uint64_t>("tensor data offset");
  if (!offset.ok()) return fail(std::move(offset).status());
  info.offset = *offset;
  if (info.offset % alignment != 0) {
    return fail(
        corrupt("data offset {} is not a multiple of the alignment {}", info.offset, alignment));
  }
  return info;
}

Result<uint64_t> read_alignment(const std::vector<std::pair<std::string, Value>>& metadata) {
  for (const auto& [key, value] : metadata) {
    if (key != "general.alignment") continue;
    const auto a = value.as_uint();
    if (!a) {
      if (value.as_int()) {
        return corrupt("general.alignment is {}, expected a power of two from 1 to {}",
                       *value.as_int(), kMaxAlignment);
      }
      return corrupt("general.alignment has type {}, expected an unsigned integer (u32)",
                     value_type_name(value.type()));
    }
    if (*a == 0 || !std::has_single_bit(*a) || *a > kMaxAlignment) {
      return corrupt("general.alignment is {}, expected a power of two from 1 to {}", *a,
                     kMaxAlignment);
    }
    return *a;
  }
  return kDefaultAlignment;
}

template <typename T, typename Key>
std::vector<size_t> sorted_order(const std::vector<T>& items, Key key) {
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return key(items[a]) < key(items[b]); });
  return order;
}

// Two indices (lower first) with the same name in a name-sorted order, if any.
template <typename Name>
std::optional<std::pair<size_t, size_t>> first_duplicate(const std::vector<size_t>& order,
                                                         Name name) {
  for (size_t i = 1; i < order.size(); ++i) {
    if (name(order[i - 1]) == name(order[i])) {
      return std::make_pair(std::min(order[i - 1], order[i]), std::max(order[i - 1], order[i]));
    }
  }
  return std::nullopt;
}

}  // namespace

Result<File> Parser::parse(std::span<const uint8_t> bytes) {
  Parse parse(bytes);
  File file;
  file.bytes_ = bytes;
  auto contents = std::make_shared<File::Contents>();

  uint64_t tensor_count = 0;
  uint64_t kv_count = 0;
  STRATA_TRY(parse.header(&file.version_, &tensor_count, &kv_count));
  STRATA_TRY(parse.metadata(kv_count, &contents->metadata));
  contents->key_order = sorted_order(
      contents->metadata,
      [](const std::pair<std::string, Value>& kv) -> std::string_view { return kv.first; });
  if (auto dup = first_duplicate(contents->key_order, [&](size_t i) -> std::string_view {
        return contents->metadata[i].first;
      })) {
    return corrupt(
        "metadata key '{}' appears more than once (entries #{} and #{}); each key may "
        "appear once",
        printable(contents->metadata[dup->first].first), dup->first, dup->second);
  }

  STRATA_ASSIGN_OR_RETURN(file.alignment_, read_alignment(contents->metadata));

  auto& tensors = contents->tensors;
  tensors.reserve(reserve_hint(tensor_count));
  for (uint64_t i = 0; i < tensor_count; ++i) {
    auto info = parse.tensor_info(file.alignment_);
    if (!info.ok()) return std::move(info).status().with_context(fmt::format("tensor info #{}", i));
    tensors.push_back(std::move(*info));
  }

  // The data section starts at the next multiple of the alignment. A file without tensors
  // may end right after its metadata, without that padding.
  const uint64_t infos_end = parse.position();
  const uint64_t padding = (file.alignment_ - infos_end % file.alignment_) % file.alignment_;
  uint64_t data_offset = 0;
  if (add_overflows(infos_end, padding, &data_offset)) {
    return corrupt("data section start overflows (tensor infos end at byte {})", infos_end);
  }
  if (data_offset > bytes.size()) {
    if (!tensors.empty()) {
      return corrupt(
          "data section would start at byte {} (tensor infos end at byte {}, padded to "
          "a multiple of {}), past the end of the file ({} bytes)",
          data_offset, infos_end, file.alignment_, bytes.size());
    }
    data_offset = bytes.size();
  }
  file.data_offset_ = data_offset;
  const uint64_t data_size = bytes.size() - data_offset;

  for (TensorInfo& t : tensors) {
    uint64_t end = 0;
    if (add_overflows(t.offset, t.n_bytes, &end) || end > data_size) {
      return corrupt(
          "tensor '{}' data (offset {}, {} bytes) does not fit in the data section "
          "({} bytes from byte {} of a {}-byte file)",
          printable(t.name), t.offset, t.n_bytes, data_size, data_offset, bytes.size());
    }
    t.data = bytes.subspan(data_offset + t.offset, t.n_bytes);
  }

  contents->tensor_order =
      sorted_order(tensors, [](const TensorInfo& t) -> std::string_view { return t.name; });
  if (auto dup = first_duplicate(contents->tensor_order,
                                 [&](size_t i) -> std::string_view { return tensors[i].name; })) {
    return corrupt("tensor name '{}' appears more than once (tensor infos #{} and #{})",
                   printable(tensors[dup->first].name), dup->first, dup->second);
  }
  const auto by_offset = sorted_order(tensors, [](const TensorInfo& t) { return t.offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& a = tensors[by_offset[i - 1]];
    const TensorInfo& b = tensors[by_offset[i]];
    if (a.offset + a.n_bytes > b.offset) {
      return corrupt("tensors '{}' (offset {}, {} bytes) and '{}' (offset {}) overlap",
                     printable(a.name), a.offset, a.n_bytes, printable(b.name), b.offset);
    }
  }
  file.contents_ = std::move(contents);
  return file;
}

}  // namespace strata::gguf
