// Fuzzes the chat template engine: parse arbitrary template text, then render it for a fixed
// small conversation with tools, under small step and output limits (so every input ends fast).
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"

namespace {

const strata::chat::ChatTemplateInputs& conversation() {
  static const strata::chat::ChatTemplateInputs inputs = [] {
    strata::chat::ChatTemplateInputs in;
    in.messages = nlohmann::ordered_json::parse(R"([
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi! Привет 你好 😶‍🌫️\ttab"},
      {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello.", "tool_calls": null},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call12345", "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2.5, true]}}}]},
      {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "{\"t\": 21}"},
      {"role": "user", "content": [{"type": "text", "text": "and?"}, {"type": "image"}]}
    ])");
    in.tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "description": "Weather.", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
      "required": ["city"]}}}])");
    in.bos_token = "<s>";
    in.eos_token = "</s>";
    in.extra_variables = {{"enable_thinking", true}};
    return in;
  }();
  return inputs;
}

std::tm fixed_time() {
  std::tm tm{};
  tm.tm_year = 124;
  tm.tm_mon = 6;
  tm.tm_mday = 26;
  return tm;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  strata::chat::TemplateOptions options;
  options.max_source_bytes = 1 << 16;
  auto parsed = strata::chat::ChatTemplate::parse(source, options);
  if (!parsed.ok()) return 0;
  strata::chat::RenderOptions render;
  render.limits.max_steps = 100000;
  render.limits.max_output_bytes = 1 << 16;
  render.clock = fixed_time;
  auto out = parsed->apply(conversation(), render);
  (void)out;
  return 0;
}
