// Streaming detokenize -> stop strings -> reasoning split (see text_pipeline.h).
#include "server/text_pipeline.h"

namespace strata::server {

Result<TextPipeline> TextPipeline::create(const tokenizer::Tokenizer& tokenizer, std::vector<std::string> stops,
                                          std::optional<chat::ReasoningSplitOptions> reasoning) {
  auto matcher = chat::StopStringMatcher::create(std::move(stops));
  if (!matcher.ok()) return matcher.status();
  std::optional<chat::ReasoningSplitter> splitter;
  if (reasoning) {
    auto created = chat::ReasoningSplitter::create(*reasoning);
    if (!created.ok()) return created.status();
    splitter = std::move(created).value();
  }
  return TextPipeline(tokenizer::StreamDecoder(tokenizer), std::move(matcher).value(), std::move(splitter));
}

void TextPipeline::split(std::string_view text, bool end, TextDelta& out) {
  if (!splitter_) {
    out.content.append(text);
    return;
  }
  chat::ReasoningDelta delta = splitter_->feed(text);
  out.reasoning += delta.reasoning;
  out.content += delta.content;
  if (end) {
    delta = splitter_->flush();
    out.reasoning += delta.reasoning;
    out.content += delta.content;
  }
}

Result<TextDelta> TextPipeline::push(int32_t token) {
  TextDelta out;
  if (finished_ || stops_.stopped()) return out;
  auto text = decoder_.push(token);
  if (!text.ok()) return text.status();
  if (text->empty()) return out;
  chat::StopDelta delta = stops_.feed(*text);
  // A stop string ends the text here: whatever the splitter still holds is released now.
  split(delta.text, delta.stopped, out);
  if (delta.stopped) finished_ = true;
  return out;
}

TextDelta TextPipeline::finish() {
  TextDelta out;
  if (finished_) return out;
  finished_ = true;
  const std::string rest = decoder_.finish();
  chat::StopDelta delta = stops_.feed(rest);
  if (!delta.stopped) {
    chat::StopDelta flushed = stops_.flush();
    delta.text += flushed.text;
  }
  split(delta.text, true, out);
  return out;
}

}  // namespace strata::server
