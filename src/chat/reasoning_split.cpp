// ReasoningSplitter: a small state machine over a buffer of text not yet released.
#include "chat/reasoning_split.h"

#include <algorithm>

namespace strata::chat {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

size_t skip_spaces(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

std::string_view trim_trailing_spaces(std::string_view s) {
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Length of the longest suffix of text that is a proper prefix of tag: the bytes that might
// become the tag once more text arrives.
size_t partial_tag_suffix(std::string_view text, std::string_view tag) {
  const size_t longest = std::min(text.size(), tag.size() - 1);
  for (size_t len = longest; len > 0; --len) {
    if (text.substr(text.size() - len) == tag.substr(0, len)) return len;
  }
  return 0;
}

Status check_tag(const char* name, const std::string& tag) {
  if (tag.empty()) return invalid_argument("reasoning {} must not be empty (e.g. \"<think>\")", name);
  if (tag.size() > kMaxReasoningTagBytes) {
    return invalid_argument("reasoning {} is {} bytes long; at most {} are accepted", name, tag.size(),
                            kMaxReasoningTagBytes);
  }
  return {};
}

}  // namespace

Result<ReasoningSplitter> ReasoningSplitter::create(ReasoningSplitOptions options) {
  STRATA_TRY(check_tag("open_tag", options.open_tag));
  STRATA_TRY(check_tag("close_tag", options.close_tag));
  return ReasoningSplitter(std::move(options));
}

ReasoningSplitter::ReasoningSplitter(ReasoningSplitOptions options) : options_(std::move(options)) {}

ReasoningDelta ReasoningSplitter::feed(std::string_view piece) {
  ReasoningDelta out;
  pending_.append(piece);
  process(out);
  return out;
}

void ReasoningSplitter::emit_reasoning(ReasoningDelta& out, std::string_view text) {
  if (options_.trim_whitespace && !reasoning_started_) text.remove_prefix(skip_spaces(text));
  if (text.empty()) return;
  out.reasoning.append(text);
  reasoning_started_ = true;
}

void ReasoningSplitter::process(ReasoningDelta& out) {
  for (;;) {
    switch (state_) {
      case State::kStart: {
        // The open tag counts only at the start of the output (after optional whitespace).
        const size_t lead = skip_spaces(pending_);
        if (lead == pending_.size()) return;
        const std::string_view rest = std::string_view(pending_).substr(lead);
        const std::string_view open = options_.open_tag;
        if (rest.starts_with(open)) {
          pending_.erase(0, lead + open.size());
          state_ = State::kReasoning;
          continue;
        }
        if (open.starts_with(rest)) return;  // maybe the tag, cut short
        state_ = options_.starts_in_reasoning ? State::kReasoning : State::kContent;
        continue;
      }
      case State::kReasoning: {
        const std::string_view close = options_.close_tag;
        const size_t at = pending_.find(close);
        if (at != std::string::npos) {
          std::string_view text = std::string_view(pending_).substr(0, at);
          if (options_.trim_whitespace) text = trim_trailing_spaces(text);
          emit_reasoning(out, text);
          pending_.erase(0, at + close.size());
          state_ = options_.trim_whitespace ? State::kContentStart : State::kContent;
          continue;
        }
        size_t safe = pending_.size() - partial_tag_suffix(pending_, close);
        // Trailing whitespace waits: it is dropped if the block ends right after it.
        if (options_.trim_whitespace) {
          while (safe > 0 && is_space(pending_[safe - 1])) --safe;
        }
        emit_reasoning(out, std::string_view(pending_).substr(0, safe));
        pending_.erase(0, safe);
        return;
      }
      case State::kContentStart: {
        pending_.erase(0, skip_spaces(pending_));
        if (pending_.empty()) return;
        state_ = State::kContent;
        continue;
      }
      case State::kContent:
        out.content.append(pending_);
        pending_.clear();
        return;
    }
  }
}

ReasoningDelta ReasoningSplitter::flush() {
  ReasoningDelta out;
  switch (state_) {
    case State::kStart:
      // Only whitespace or the beginning of an open tag arrived.
      if (options_.starts_in_reasoning) {
        state_ = State::kReasoning;
        emit_reasoning(out, options_.trim_whitespace ? trim_trailing_spaces(pending_) : pending_);
      } else {
        state_ = State::kContent;
        out.content = pending_;
      }
      break;
    case State::kReasoning:
      // max_tokens cut the block short: everything so far is reasoning, a partial close tag too.
      emit_reasoning(out, options_.trim_whitespace ? trim_trailing_spaces(pending_) : pending_);
      break;
    case State::kContentStart:
    case State::kContent:
      break;
  }
  pending_.clear();
  return out;
}

}  // namespace strata::chat
