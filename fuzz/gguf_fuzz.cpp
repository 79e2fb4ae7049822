// Fuzzes the GGUF reader: parse arbitrary bytes, then touch everything a valid parse exposes.
#include <cstddef>
#include <cstdint>
#include <span>

#include "gguf/file.h"

namespace {

volatile size_t g_sink = 0;

void touch(const strata::gguf::Value& value) {
  g_sink = g_sink + value.to_display(4).size();
  g_sink = g_sink + value.as_uint().value_or(0) + static_cast<size_t>(value.as_int().value_or(0));
  g_sink = g_sink + static_cast<size_t>(value.as_number().value_or(0) != 0) +
           (value.as_string() != nullptr);
  if (!value.is_array()) return;
  const size_t n = value.array_size();
  if (n > 0) {
    if (auto first = value.element(0)) touch(*first);
    if (auto last = value.element(n - 1)) g_sink = g_sink + last->to_display(2).size();
  }
  if (auto f = value.to_f32_vector()) g_sink = g_sink + f->size();
  if (auto i = value.to_i64_vector()) g_sink = g_sink + i->size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = strata::gguf::File::parse(std::span<const uint8_t>(data, size));
  if (!file.ok()) {
    g_sink = g_sink + file.status().message().size();
    return 0;
  }
  for (const auto& [key, value] : file->metadata()) {
    touch(value);
    g_sink = g_sink + (file->find(key) == &value);
  }
  for (const auto& tensor : file->tensors()) {
    // Data spans must lie inside the input: a sanitizer flags any that do not.
    g_sink = g_sink + tensor.data.front() + tensor.data.back();
    g_sink = g_sink + (file->find_tensor(tensor.name) == &tensor);
  }
  g_sink = g_sink + file->get_uint("general.alignment").ok() + file->architecture().size();
  return 0;
}
