// A compiled PCRE2 pattern (UTF-8, Unicode properties, JIT) for the pre-tokenizers.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace strata::tokenizer {

class Regex {
 public:
  // Compiles once (and JIT-compiles when PCRE2 supports it on this machine).
  static Result<Regex> compile(std::string_view pattern);

  // Appends [begin, end) byte offsets of successive non-overlapping, non-empty matches in
  // `subject`, which must be valid UTF-8 (not checked again here). Lookarounds and `$` see
  // `subject` as the whole input. Fails only when PCRE2 hits a resource limit.
  Status find_all(std::string_view subject, std::vector<std::pair<size_t, size_t>>& matches) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Code;
  std::shared_ptr<const Code> code_;  // immutable after compile: safe to share between threads
  std::string pattern_;
};

}  // namespace strata::tokenizer
