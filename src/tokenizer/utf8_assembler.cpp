// Utf8Assembler: holds back a trailing partial character between pushes.
#include "tokenizer/utf8_assembler.h"

#include "core/utf8.h"

namespace strata::tokenizer {

std::string Utf8Assembler::push(std::string_view bytes) {
  std::string buffer;
  std::string_view text = bytes;
  if (!pending_.empty()) {
    buffer = std::move(pending_);
    buffer.append(bytes);
    text = buffer;
    pending_.clear();
  }
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<uint8_t>(text[pos]) < 0x80) {
      out.push_back(text[pos++]);
      continue;
    }
    const size_t length = utf8_sequence_length(text, pos);
    if (length > 0) {
      out.append(text.data() + pos, length);
      pos += length;
      continue;
    }
    bool complete = true;
    const size_t span = utf8_invalid_span(text, pos, &complete);
    if (!complete) {
      // A valid prefix cut off by the end of the input: wait for the rest.
      pending_.assign(text.data() + pos, text.size() - pos);
      break;
    }
    out.append(kReplacementUtf8);
    pos += span;
  }
  return out;
}

std::string Utf8Assembler::finish() {
  std::string out;
  if (!pending_.empty()) out = sanitize_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace strata::tokenizer
