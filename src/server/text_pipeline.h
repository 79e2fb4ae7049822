// TextPipeline: generated token ids to the text a reply may show, as tokens arrive: UTF-8-safe
// detokenizing, then stop strings, then the reasoning (<think>) split.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "chat/reasoning_split.h"
#include "chat/stop_strings.h"
#include "core/status.h"
#include "tokenizer/stream_decoder.h"

namespace strata::server {

struct TextDelta {
  std::string reasoning;
  std::string content;
  bool empty() const { return reasoning.empty() && content.empty(); }
};

class TextPipeline {
 public:
  // reasoning: nullopt keeps all text as content. Errors: bad stop strings or tags.
  static Result<TextPipeline> create(const tokenizer::Tokenizer& tokenizer, std::vector<std::string> stops,
                                     std::optional<chat::ReasoningSplitOptions> reasoning);

  // Text released by this token (often empty: held back inside a UTF-8 character, a possible
  // stop string or a possible tag). After a stop string matched, tokens are ignored.
  // Errors: the token is not in the vocabulary.
  Result<TextDelta> push(int32_t token);
  // End of generation: releases what was held back.
  TextDelta finish();

  bool stopped() const { return stops_.stopped(); }

 private:
  TextPipeline(tokenizer::StreamDecoder decoder, chat::StopStringMatcher stops,
               std::optional<chat::ReasoningSplitter> splitter)
      : decoder_(std::move(decoder)), stops_(std::move(stops)), splitter_(std::move(splitter)) {}

  void split(std::string_view text, bool end, TextDelta& out);

  tokenizer::StreamDecoder decoder_;
  chat::StopStringMatcher stops_;
  std::optional<chat::ReasoningSplitter> splitter_;
  bool finished_ = false;
};

}  // namespace strata::server
