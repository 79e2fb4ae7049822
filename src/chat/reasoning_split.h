// ReasoningSplitter: separates a model's <think>…</think> block (reasoning_content) from its
// answer (content) while text streams in, never emitting part of a tag.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace strata::chat {

struct ReasoningSplitOptions {
  std::string open_tag = "<think>";
  std::string close_tag = "</think>";
  // The prompt already ends with the open tag (e.g. DeepSeek-R1 distill templates emit
  // "<think>\n"), so the output starts inside the reasoning block. An open tag that the model
  // repeats at the very start is swallowed.
  bool starts_in_reasoning = false;
  // Strip whitespace around the reasoning and at the start of the content after the close
  // tag, as llama.cpp does (DeepSeek emits "\n\n" after </think>).
  bool trim_whitespace = true;
};

// Longest accepted tag; tags are markers like "<think>", not text blocks.
inline constexpr size_t kMaxReasoningTagBytes = 64;

// What one feed() or flush() releases. Concatenating every delta's fields gives the same
// reasoning and content however the text was cut into pieces.
struct ReasoningDelta {
  std::string reasoning;
  std::string content;
};

class ReasoningSplitter {
 public:
  // Fails on an empty or over-long tag.
  static Result<ReasoningSplitter> create(ReasoningSplitOptions options = {});

  // Takes the next piece of generated text (any cut, even inside a tag).
  ReasoningDelta feed(std::string_view piece);
  // End of generation: releases what was held back. An unterminated think block counts as
  // reasoning; an incomplete tag is literal text.
  ReasoningDelta flush();

  // True while the text being generated belongs to the reasoning block.
  bool in_reasoning() const { return state_ == State::kReasoning; }

 private:
  enum class State {
    kStart,         // nothing decided yet: an open tag may still come
    kReasoning,     // inside the think block
    kContentStart,  // after the close tag, dropping leading whitespace
    kContent,       // everything else is content, passed straight through
  };

  explicit ReasoningSplitter(ReasoningSplitOptions options);
  void process(ReasoningDelta& out);
  void emit_reasoning(ReasoningDelta& out, std::string_view text);

  ReasoningSplitOptions options_;
  State state_ = State::kStart;
  std::string pending_;            // received but not yet released
  bool reasoning_started_ = false; // some reasoning text was released (for leading-space trim)
};

}  // namespace strata::chat
