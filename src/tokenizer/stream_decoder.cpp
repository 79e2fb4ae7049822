// StreamDecoder: token pieces through a Utf8Assembler, minus the leading prefix space.
#include "tokenizer/stream_decoder.h"

namespace strata::tokenizer {

Result<std::string> StreamDecoder::push(TokenId id) {
  STRATA_ASSIGN_OR_RETURN(std::string_view piece, tokenizer_.piece(id, options_.render_special));
  if (piece.empty()) return std::string();
  if (at_start_) {
    at_start_ = false;
    const Vocab& v = tokenizer_.vocab();
    if (options_.strip_leading_space && v.kind == VocabKind::kSpm && v.add_space_prefix && piece[0] == ' ') {
      piece.remove_prefix(1);
    }
  }
  return assembler_.push(piece);
}

std::string StreamDecoder::finish() {
  at_start_ = true;
  return assembler_.finish();
}

}  // namespace strata::tokenizer
