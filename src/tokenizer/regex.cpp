// Regex: PCRE2 compile once, match with per-thread match data and JIT stack.
#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/utf8.h"

namespace strata::tokenizer {

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;  // JIT-compiled: pcre2_jit_match skips pcre2_match's per-call checks
  ~Code() { pcre2_code_free(code); }
};

namespace {

std::string pcre2_message(int error) {
  PCRE2_UCHAR buffer[256];
  const int n = pcre2_get_error_message(error, buffer, sizeof(buffer));
  if (n < 0) return "PCRE2 error " + std::to_string(error);
  return std::string(reinterpret_cast<const char*>(buffer), static_cast<size_t>(n));
}

// Match data and JIT stack are not shareable between threads; each thread keeps its own and
// reuses it for every pattern, so a tokenize call allocates nothing here after the first.
struct Scratch {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;

  Scratch() {
    data = pcre2_match_data_create(16, nullptr);
    context = pcre2_match_context_create(nullptr);
    // Our patterns need little stack; the default 32 KiB can still run out on long runs of
    // alternations, so allow up to 1 MiB before falling back to the interpreter.
    jit_stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
    if (context != nullptr && jit_stack != nullptr) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~Scratch() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

Result<Regex> Regex::compile(std::string_view pattern) {
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  // DOLLAR_ENDONLY: `$` means the end of the piece, never "before a final newline".
  const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                                   &error, &error_offset, nullptr);
  if (code == nullptr) {
    return invalid_argument("pre-tokenizer regex does not compile at offset {}: {} (pattern: {})", error_offset,
                            pcre2_message(error), pattern);
  }
  // Without JIT support (some platforms) pcre2_match interprets the pattern: slower, same result.
  const bool jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  auto holder = std::make_shared<Code>();
  holder->code = code;
  holder->jit = jit;
  Regex regex;
  regex.code_ = std::move(holder);
  regex.pattern_ = std::string(pattern);
  return regex;
}

Status Regex::find_all(std::string_view subject, std::vector<std::pair<size_t, size_t>>& matches) const {
  if (subject.empty()) return {};
  Scratch& s = scratch();
  if (s.data == nullptr || s.context == nullptr) {
    return resource_exhausted("out of memory allocating regex match data");
  }
  const auto* text = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t offset = 0;
  while (offset < subject.size()) {
    int rc = code_->jit ? pcre2_jit_match(code_->code, text, subject.size(), offset, 0, s.data, s.context)
                        : pcre2_match(code_->code, text, subject.size(), offset, PCRE2_NO_UTF_CHECK, s.data, s.context);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      rc = pcre2_match(code_->code, text, subject.size(), offset, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, s.data,
                       s.context);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    // rc == 0 only means the ovector was too small for all groups; the whole match is there.
    if (rc < 0) {
      return resource_exhausted("pre-tokenizer regex failed on a {}-byte piece: {}", subject.size(),
                                pcre2_message(rc));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(s.data);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end > begin) {
      matches.emplace_back(begin, end);
      offset = end;
    } else {
      // An empty match: step over one character so the search always advances.
      if (begin >= subject.size()) break;
      offset = begin + utf8_lead_length(static_cast<uint8_t>(subject[begin]));
    }
  }
  return {};
}

}  // namespace strata::tokenizer
