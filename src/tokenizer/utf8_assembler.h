// Turns a byte stream that may split UTF-8 characters into chunks of complete characters.
#pragma once

#include <string>
#include <string_view>

namespace strata::tokenizer {

// Bytes go in as they arrive (a token may end mid-character); what comes out is always valid
// UTF-8. An incomplete sequence at the end is held back until the next push completes it;
// bytes that can never become valid are emitted as U+FFFD at once.
class Utf8Assembler {
 public:
  // The valid text that is complete now (possibly empty).
  std::string push(std::string_view bytes);
  // Whatever is still held, as U+FFFD per incomplete sequence; resets the assembler.
  std::string finish();
  bool has_pending() const { return !pending_.empty(); }

 private:
  std::string pending_;  // at most 3 bytes: a prefix of one multi-byte character
};

}  // namespace strata::tokenizer
