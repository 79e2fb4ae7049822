// StopStringMatcher: earliest-completing match over the held-back text plus the new piece.
#include "chat/stop_strings.h"

#include <algorithm>

namespace strata::chat {

Result<StopStringMatcher> StopStringMatcher::create(std::vector<std::string> stops) {
  if (stops.size() > kMaxStopStrings) {
    return invalid_argument("{} stop strings given; at most {} are accepted", stops.size(), kMaxStopStrings);
  }
  size_t total = 0;
  for (size_t i = 0; i < stops.size(); ++i) {
    if (stops[i].empty()) {
      return invalid_argument("stop string {} is empty; every stop string needs at least one character", i);
    }
    if (stops[i].size() > kMaxStopStringBytes) {
      return invalid_argument("stop string {} is {} bytes long; at most {} are accepted", i, stops[i].size(),
                              kMaxStopStringBytes);
    }
    total += stops[i].size();
  }
  if (total > kMaxStopStringsTotalBytes) {
    return invalid_argument("stop strings total {} bytes; at most {} are accepted", total,
                            kMaxStopStringsTotalBytes);
  }
  std::sort(stops.begin(), stops.end());
  stops.erase(std::unique(stops.begin(), stops.end()), stops.end());
  return StopStringMatcher(std::move(stops));
}

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const std::string& s : stops_) longest_ = std::max(longest_, s.size());
}

StopDelta StopStringMatcher::feed(std::string_view piece) {
  StopDelta out;
  if (stopped_) {
    out.stopped = true;
    return out;
  }
  if (stops_.empty()) {
    out.text.assign(piece);
    return out;
  }
  pending_.append(piece);

  // The held-back text held no complete match, so any match ends inside the new piece; the
  // first occurrence of each stop string is its earliest-ending one.
  size_t best_end = std::string::npos;
  size_t best_len = 0;
  const std::string* best = nullptr;
  for (const std::string& stop : stops_) {
    const size_t at = pending_.find(stop);
    if (at == std::string::npos) continue;
    const size_t end = at + stop.size();
    if (end < best_end || (end == best_end && stop.size() > best_len)) {
      best_end = end;
      best_len = stop.size();
      best = &stop;
    }
  }
  if (best != nullptr) {
    out.text = pending_.substr(0, best_end - best_len);
    out.stopped = true;
    stopped_ = true;
    matched_ = *best;
    pending_.clear();
    return out;
  }

  // Hold the longest suffix that some stop string starts with; release the rest.
  size_t hold = 0;
  for (size_t len = std::min(pending_.size(), longest_ - 1); len > 0 && hold == 0; --len) {
    const std::string_view tail = std::string_view(pending_).substr(pending_.size() - len);
    for (const std::string& stop : stops_) {
      if (stop.size() > len && std::string_view(stop).starts_with(tail)) {
        hold = len;
        break;
      }
    }
  }
  out.text = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

StopDelta StopStringMatcher::flush() {
  StopDelta out;
  out.stopped = stopped_;
  if (!stopped_) out.text = std::move(pending_);
  pending_.clear();
  return out;
}

}  // namespace strata::chat
