// Chat template engine speed: parse time, and render time of a 20-turn conversation with a
// ChatML-style and a Llama-3-style template (both written for this benchmark).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"

namespace {

using Json = nlohmann::ordered_json;
namespace chat = strata::chat;

constexpr const char* kChatmlStyle = R"TPL({%- if messages[0].role != 'system' -%}
<|im_start|>system
You are a helpful assistant.<|im_end|>
{% endif -%}
{%- for message in messages -%}
<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endfor -%}
{%- if add_generation_prompt -%}
<|im_start|>assistant
{% endif -%})TPL";

constexpr const char* kLlama3Style = R"TPL({{- bos_token }}
{%- if messages[0].role == 'system' %}
    {%- set system_text = messages[0].content | trim %}
    {%- set turns = messages[1:] %}
{%- else %}
    {%- set system_text = "" %}
    {%- set turns = messages %}
{%- endif %}
{%- if date_string is not defined %}{% set date_string = strftime_now("%d %b %Y") %}{% endif %}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Knowledge cutoff: December 2023\nToday: " ~ date_string ~ "\n\n" }}
{%- if tools is not none %}
    {{- "You may call these functions; answer with JSON {\"name\": ..., \"parameters\": ...}.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_text ~ "<|eot_id|>" }}
{%- for turn in turns %}
    {%- if turn.tool_calls is defined and turn.tool_calls %}
        {%- set call = turn.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "' ~ call.name ~ '", "parameters": ' ~ call.arguments | tojson ~ '}<|eot_id|>' }}
    {%- elif turn.role in ['tool', 'ipython'] %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" ~ (turn.content | tojson if turn.content is mapping else turn.content) ~ "<|eot_id|>" }}
    {%- else %}
        {{- '<|start_header_id|>' ~ turn.role ~ '<|end_header_id|>\n\n' ~ turn.content | trim ~ '<|eot_id|>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %})TPL";

chat::ChatTemplateInputs conversation(int turns, bool with_tools) {
  chat::ChatTemplateInputs inputs;
  inputs.messages = Json::array();
  inputs.messages.push_back({{"role", "system"}, {"content", "You are a careful assistant. Answer briefly and cite sources."}});
  const std::string filler =
      "Here is some ordinary conversational text of moderate length, the kind a chat turn has, "
      "with punctuation, numbers like 3.14 and 42, and a few non-ASCII characters: é, ü, 你好. ";
  for (int i = 0; i < turns; ++i) {
    const bool user = i % 2 == 0;
    inputs.messages.push_back({{"role", user ? "user" : "assistant"},
                               {"content", std::string(user ? "Question " : "Answer ") + std::to_string(i) + ": " +
                                               filler + filler}});
  }
  if (with_tools) {
    inputs.tools = Json::parse(R"([
      {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
          "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}},
      {"type": "function", "function": {"name": "search", "description": "Search the web.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"},
          "max_results": {"type": "integer"}}, "required": ["query"]}}}])");
  }
  inputs.bos_token = "<s>";
  inputs.eos_token = "</s>";
  inputs.add_generation_prompt = true;
  return inputs;
}

std::tm fixed_time() {
  std::tm tm{};
  tm.tm_year = 124;
  tm.tm_mon = 6;
  tm.tm_mday = 26;
  return tm;
}

void parse(benchmark::State& state, const char* source) {
  for (auto _ : state) {
    auto parsed = chat::ChatTemplate::parse(source);
    if (!parsed.ok()) {
      state.SkipWithError(parsed.status().message().c_str());
      return;
    }
    benchmark::DoNotOptimize(parsed);
  }
}

void render(benchmark::State& state, const char* source, bool with_tools) {
  auto parsed = chat::ChatTemplate::parse(source);
  if (!parsed.ok()) {
    state.SkipWithError(parsed.status().message().c_str());
    return;
  }
  const auto inputs = conversation(static_cast<int>(state.range(0)), with_tools);
  chat::RenderOptions options;
  options.clock = fixed_time;
  size_t bytes = 0;
  for (auto _ : state) {
    auto out = parsed->apply(inputs, options);
    if (!out.ok()) {
      state.SkipWithError(out.status().message().c_str());
      return;
    }
    bytes = out->size();
    benchmark::DoNotOptimize(out);
  }
  state.counters["prompt_bytes"] = static_cast<double>(bytes);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
}

void BM_ParseChatmlStyle(benchmark::State& state) { parse(state, kChatmlStyle); }
void BM_ParseLlama3Style(benchmark::State& state) { parse(state, kLlama3Style); }
void BM_RenderChatmlStyle(benchmark::State& state) { render(state, kChatmlStyle, false); }
void BM_RenderLlama3Style(benchmark::State& state) { render(state, kLlama3Style, false); }
void BM_RenderLlama3StyleTools(benchmark::State& state) { render(state, kLlama3Style, true); }

BENCHMARK(BM_ParseChatmlStyle);
BENCHMARK(BM_ParseLlama3Style);
BENCHMARK(BM_RenderChatmlStyle)->Arg(20)->Arg(200);
BENCHMARK(BM_RenderLlama3Style)->Arg(20)->Arg(200);
BENCHMARK(BM_RenderLlama3StyleTools)->Arg(20);

}  // namespace
