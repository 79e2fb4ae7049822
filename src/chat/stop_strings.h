// StopStringMatcher: cuts streamed text at the first stop string, holding back only the text
// that could still turn out to be the start of one.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace strata::chat {

// OpenAI allows 4 stop strings; we allow more, within these bounds.
inline constexpr size_t kMaxStopStrings = 64;
inline constexpr size_t kMaxStopStringBytes = 1024;      // one stop string
inline constexpr size_t kMaxStopStringsTotalBytes = 8192;  // all of them together

struct StopDelta {
  std::string text;      // safe to send: cannot be part of a stop string
  bool stopped = false;  // a stop string completed; nothing more will be released
};

class StopStringMatcher {
 public:
  // Fails on an empty stop string or when the bounds above are exceeded. Duplicates are fine.
  // An empty list is valid and stops nothing.
  static Result<StopStringMatcher> create(std::vector<std::string> stops);

  // Takes the next piece of text. When a stop string completes, returns the text before it
  // (never the stop string itself) with stopped = true. The stop that completes first wins;
  // among several ending at the same byte, the longest. So the result does not depend on how
  // the text was cut into pieces. After a stop, further pieces are ignored.
  StopDelta feed(std::string_view piece);
  // End of generation: releases the held-back text (unless stopped).
  StopDelta flush();

  bool stopped() const { return stopped_; }
  // The stop string that matched; empty until stopped.
  const std::string& matched() const { return matched_; }

 private:
  explicit StopStringMatcher(std::vector<std::string> stops);

  std::vector<std::string> stops_;
  size_t longest_ = 0;
  std::string pending_;  // held back: a suffix that is a proper prefix of some stop string
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace strata::chat
