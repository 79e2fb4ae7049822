// Splits text into the pieces that byte-level BPE merges within (never across).
#pragma once

#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/pre_tokenizer_spec.h"
#include "tokenizer/regex.h"

namespace strata::tokenizer {

class PreTokenizer {
 public:
  // Compiles the family's patterns once; the result is immutable and thread-safe.
  static Result<PreTokenizer> create(const PreTokenizerSpec& spec);

  // Appends the pieces of `text` (valid UTF-8) in order; together they are exactly `text`.
  Status split(std::string_view text, std::vector<std::string_view>& pieces) const;

  std::string_view name() const { return name_; }

 private:
  std::string_view name_;
  std::vector<Regex> regexes_;
};

}  // namespace strata::tokenizer
