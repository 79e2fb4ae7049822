// Chat formatting: the reference renders of five published templates (fixtures), our own
// templates in the style of other families (Llama 2, ChatML, Gemma, Phi-3, Mistral, JSON-schema
// tool prompts; expected text from Jinja2 3.1), the variables passed, input validation, threads.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "chat/chat_template.h"
#include "jinja_test_util.h"
#include "support/fixtures.h"

namespace strata::chat::testing {
namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

ChatTemplateInputs inputs_from_case(const Json& c) {
  ChatTemplateInputs inputs;
  inputs.messages = c["messages"];
  if (c.contains("tools")) inputs.tools = c["tools"];
  inputs.add_generation_prompt = c["add_generation_prompt"].get<bool>();
  if (!c["bos_token"].is_null()) inputs.bos_token = c["bos_token"].get<std::string>();
  if (!c["eos_token"].is_null()) inputs.eos_token = c["eos_token"].get<std::string>();
  return inputs;
}

TEST(ChatTemplateFixtures, EveryReferenceCaseRendersExactly) {
  STRATA_REQUIRE_FIXTURES();
  const auto dir = strata::testing::fixtures_dir() / "templates";
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".jinja") continue;
    auto parsed = ChatTemplate::parse(read_text(entry.path()));
    ASSERT_TRUE(parsed.ok()) << name << ": " << parsed.status().message();
    const std::string cases_path = entry.path().string().substr(0, entry.path().string().size() - 6) + ".cases.json";
    const Json cases = Json::parse(read_text(cases_path));
    for (const Json& c : cases) {
      SCOPED_TRACE(name + " / " + c["name"].get<std::string>());
      auto out = parsed->apply(inputs_from_case(c), test_options());
      if (c.contains("expected")) {
        ASSERT_TRUE(out.ok()) << out.status().message();
        EXPECT_EQ(*out, c["expected"].get<std::string>());
      } else {
        ASSERT_FALSE(out.ok()) << "rendered: " << *out;
        EXPECT_NE(out.status().message().find(c["expected_error"].get<std::string>()), std::string::npos)
            << out.status().message();
        // The Python exception class names the same kind of failure.
        EXPECT_NE(out.status().message().find(c["expected_error_type"].get<std::string>()), std::string::npos)
            << out.status().message();
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 55);
}

// fuzz/corpus/template/llama2_style.jinja
constexpr const char* kLlama2Style = R"TPL({%- set ns = namespace(system='') -%}
{%- if messages and messages[0].role == 'system' -%}
  {%- set ns.system = messages[0].content -%}
  {%- set turns = messages[1:] -%}
{%- else -%}
  {%- set turns = messages -%}
{%- endif -%}
{%- for turn in turns -%}
  {%- if (turn.role == 'user') != loop.index0 is even -%}
    {{- raise_exception('turns must alternate between user and assistant, starting with user') -}}
  {%- endif -%}
  {%- set text = turn.content -%}
  {%- if loop.first and ns.system -%}
    {%- set text = '<<SYS>>\n' ~ ns.system ~ '\n<</SYS>>\n\n' ~ text -%}
  {%- endif -%}
  {%- if turn.role == 'user' -%}
    {{- bos_token ~ '[INST] ' ~ text.strip() ~ ' [/INST]' -}}
  {%- else -%}
    {{- ' ' ~ text.strip() ~ ' ' ~ eos_token -}}
  {%- endif -%}
{%- endfor -%}
)TPL";

// fuzz/corpus/template/chatml_style.jinja
constexpr const char* kChatmlStyle = R"TPL({%- for m in messages %}
<|im_start|>{{ m.role }}
{{ m.content | trim }}<|im_end|>
{%- endfor %}
{%- if add_generation_prompt %}
<|im_start|>assistant
{% endif %}
)TPL";

// fuzz/corpus/template/gemma_style.jinja
constexpr const char* kGemmaStyle = R"TPL({{- bos_token -}}
{%- for m in messages -%}
  {%- if m.role == 'system' -%}{{ raise_exception('this format has no system turn') }}{%- endif -%}
  {%- set speaker = 'model' if m.role == 'assistant' else m.role -%}
<start_of_turn>{{ speaker }}
{{ m.content | trim }}<end_of_turn>
{% endfor -%}
{%- if add_generation_prompt %}<start_of_turn>model
{% endif -%}
)TPL";

// fuzz/corpus/template/phi3_style.jinja
constexpr const char* kPhi3Style = R"TPL({%- for m in messages if m.role in ['system', 'user', 'assistant'] -%}
<|{{ m.role }}|>
{{ m.content }}<|end|>
{% endfor -%}
{{- '<|assistant|>\n' if add_generation_prompt else eos_token -}}
)TPL";

// fuzz/corpus/template/mistral_tools_style.jinja
constexpr const char* kMistralToolsStyle = R"TPL({%- macro tool_list(tools) -%}
[AVAILABLE_TOOLS] [
{%- for t in tools -%}
{"type": "function", "function": {{ t.function | tojson }}}{{ ", " if not loop.last }}
{%- endfor -%}
][/AVAILABLE_TOOLS]
{%- endmacro -%}
{%- set ns = namespace(last_user=-1, system=none) -%}
{%- for m in messages -%}
  {%- if m.role == 'user' %}{% set ns.last_user = loop.index0 %}{% elif m.role == 'system' %}{% set ns.system = m.content %}{% endif -%}
{%- endfor -%}
{{- bos_token -}}
{%- for m in messages -%}
  {%- if m.role == 'user' -%}
    {%- if tools and loop.index0 == ns.last_user %}{{ tool_list(tools) }}{% endif -%}
    [INST] {% if loop.index0 == ns.last_user and ns.system %}{{ ns.system }}

{% endif %}{{ m.content }}[/INST]
  {%- elif m.role == 'assistant' and m.tool_calls -%}
    [TOOL_CALLS] [
    {%- for call in m.tool_calls -%}
      {%- set args = call.function.arguments -%}
      {"name": "{{ call.function.name }}", "arguments": {{ args if args is string else args | tojson }}, "id": "{{ call.id }}"}{{ ", " if not loop.last }}
    {%- endfor -%}
    ]{{ eos_token }}
  {%- elif m.role == 'assistant' -%}
    {{ ' ' ~ m.content | trim ~ eos_token }}
  {%- elif m.role == 'tool' -%}
    [TOOL_RESULTS] {"content": {{ m.content }}, "call_id": "{{ m.tool_call_id }}"}[/TOOL_RESULTS]
  {%- elif m.role != 'system' -%}
    {{ raise_exception('unsupported role: ' ~ m.role) }}
  {%- endif -%}
{%- endfor -%}
)TPL";

// fuzz/corpus/template/schema_tools_style.jinja
constexpr const char* kSchemaToolsStyle = R"TPL({%- macro py_type(schema) -%}
  {%- set simple = {'string': 'str', 'integer': 'int', 'number': 'float', 'boolean': 'bool'} -%}
  {%- if schema.type is string and schema.type in simple -%}{{ simple[schema.type] }}
  {%- elif schema.type == 'array' -%}list[{{ py_type(schema['items']) if schema['items'] is defined else 'Any' }}]
  {%- elif schema.type == 'object' -%}dict
  {%- elif schema.type is sequence and schema.type is not string -%}Union[{% for t in schema.type %}{{ py_type({'type': t}) }}{{ ', ' if not loop.last }}{% endfor %}]
  {%- else -%}Any
  {%- endif -%}
{%- endmacro -%}
<|im_start|>system
You can call these functions:
{% for tool in tools %}
{%- set f = tool.function if tool.function is defined else tool -%}
- {{ f.name }}({% for name, p in f.parameters.properties | items %}{{ name }}: {{ py_type(p) }}{{ ', ' if not loop.last }}{% endfor %}): {{ f.description | trim }}
{% endfor -%}
Reply with <tool_call>{"name": ..., "arguments": ...}</tool_call>.<|im_end|>
{% for m in messages %}
{%- if m.role == 'assistant' and m.tool_calls -%}
<|im_start|>assistant
{% for call in m.tool_calls %}<tool_call>{{ {'name': call.function.name, 'arguments': call.function.arguments} | tojson }}</tool_call>{% endfor %}<|im_end|>
{% elif m.role == 'tool' -%}
{%- if loop.previtem is not defined or loop.previtem.role != 'tool' %}<|im_start|>user
{% endif -%}
<tool_response>{{ m.content }}</tool_response>
{% if loop.nextitem is not defined or loop.nextitem.role != 'tool' %}<|im_end|>
{% endif -%}
{%- else -%}
<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endif -%}
{%- endfor -%}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif -%}
)TPL";

constexpr const char* kExpectedLlama2 =
      "<s>[INST] <<SYS>>\n"
      "You are terse.\n"
      "<</SYS>>\n"
      "\n"
      "Hi! [/INST] Hello. </s><s>[INST] Count to 2. [/INST]";

constexpr const char* kExpectedChatml =
      "<|im_start|>system\n"
      "You are terse.<|im_end|><|im_start|>user\n"
      "Hi!<|im_end|><|im_start|>assistant\n"
      "Hello.<|im_end|><|im_start|>user\n"
      "Count to 2.<|im_end|><|im_start|>assistant\n"
      "";

constexpr const char* kExpectedGemma =
      "<bos><start_of_turn>user\n"
      "Hi!<end_of_turn>\n"
      "<start_of_turn>model\n"
      "Hello.<end_of_turn>\n"
      "<start_of_turn>user\n"
      "Count to 2.<end_of_turn>\n"
      "<start_of_turn>model\n"
      "";

constexpr const char* kExpectedPhi3 =
      "<|system|>\n"
      "You are terse.<|end|>\n"
      "<|user|>\n"
      "Hi!<|end|>\n"
      "<|assistant|>\n"
      " Hello. <|end|>\n"
      "<|user|>\n"
      "Count to 2.<|end|>\n"
      "<|assistant|>\n"
      "";

constexpr const char* kExpectedMistral =
      "<s>[INST] Hi![/INST] Hello.</s>[INST] You are terse.\n"
      "\n"
      "Count to 2.[/INST]";

constexpr const char* kExpectedMistralTools =
      "<s>[AVAILABLE_TOOLS] [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the weather.\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": \"City name\"}, \"days\": {\"type\": [\"integer\", \"null\"], \"description\": \"How many days\"}, \"hours\": {\"type\": \"array\", \"items\": {\"type\": \"number\"}}}, \"required\": [\"city\"]}}}][/AVAILABLE_TOOLS][INST] Weather in Paris?[/INST][TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"abc123def\"}]</s>[TOOL_RESULTS] {\"content\": {\"temp\": 21}, \"call_id\": \"abc123def\"}[/TOOL_RESULTS]";

constexpr const char* kExpectedSchemaTools =
      "<|im_start|>system\n"
      "You can call these functions:\n"
      "- get_weather(city: str, days: Union[int, Any], hours: list[float]): Get the weather.\n"
      "Reply with <tool_call>{\"name\": ..., \"arguments\": ...}</tool_call>.<|im_end|>\n"
      "<|im_start|>user\n"
      "Weather in Paris?<|im_end|>\n"
      "<|im_start|>assistant\n"
      "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}</tool_call><|im_end|>\n"
      "<|im_start|>user\n"
      "<tool_response>{\"temp\": 21}</tool_response>\n"
      "<|im_end|>\n"
      "<|im_start|>assistant\n"
      "";

Json conversation() {
  return Json::parse(R"([{"role":"system","content":"You are terse."},{"role":"user","content":"Hi!"},
                         {"role":"assistant","content":" Hello. "},{"role":"user","content":"Count to 2."}])");
}

Json tool_conversation() {
  return Json::parse(R"([{"role":"user","content":"Weather in Paris?"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"abc123def","type":"function",
      "function":{"name":"get_weather","arguments":{"city":"Paris"}}}]},
    {"role":"tool","tool_call_id":"abc123def","content":"{\"temp\": 21}"}])");
}

Json weather_tools() {
  return Json::parse(R"([{"type":"function","function":{"name":"get_weather","description":"Get the weather.",
    "parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},
    "days":{"type":["integer","null"],"description":"How many days"},"hours":{"type":"array","items":{"type":"number"}}},
    "required":["city"]}}}])");
}

std::string apply(const char* source, Json messages, Json tools, std::optional<std::string> bos,
                  std::optional<std::string> eos) {
  auto parsed = ChatTemplate::parse(source);
  if (!parsed.ok()) return "<parse error: " + parsed.status().message() + ">";
  ChatTemplateInputs inputs;
  inputs.messages = std::move(messages);
  inputs.tools = std::move(tools);
  inputs.bos_token = std::move(bos);
  inputs.eos_token = std::move(eos);
  auto out = parsed->apply(inputs, test_options());
  return out.ok() ? *out : "<error: " + out.status().message() + ">";
}

TEST(ChatTemplateFamilies, Llama2Style) {
  EXPECT_EQ(apply(kLlama2Style, conversation(), nullptr, "<s>", "</s>"), kExpectedLlama2);
  EXPECT_EQ(apply(kLlama2Style, Json::parse(R"([{"role":"user","content":"a"},{"role":"user","content":"b"}])"), nullptr,
                  "<s>", "</s>"),
            "<error: TemplateError at 10:24: turns must alternate between user and assistant, starting with user>");
}

TEST(ChatTemplateFamilies, ChatMLStyle) {
  EXPECT_EQ(apply(kChatmlStyle, conversation(), nullptr, std::nullopt, "<|im_end|>"), kExpectedChatml);
}

TEST(ChatTemplateFamilies, GemmaStyleRejectsSystemAndRendersTurns) {
  Json no_system = conversation();
  no_system.erase(0);
  EXPECT_EQ(apply(kGemmaStyle, no_system, nullptr, "<bos>", "<eos>"), kExpectedGemma);
  EXPECT_EQ(apply(kGemmaStyle, conversation(), nullptr, "<bos>", "<eos>"),
            "<error: TemplateError at 3:50: this format has no system turn>");
}

TEST(ChatTemplateFamilies, Phi3StyleWithLoopFilter) {
  EXPECT_EQ(apply(kPhi3Style, conversation(), nullptr, "<s>", "<|endoftext|>"), kExpectedPhi3);
}

TEST(ChatTemplateFamilies, MistralStyleWithAndWithoutTools) {
  EXPECT_EQ(apply(kMistralToolsStyle, conversation(), nullptr, "<s>", "</s>"), kExpectedMistral);
  EXPECT_EQ(apply(kMistralToolsStyle, tool_conversation(), weather_tools(), "<s>", "</s>"), kExpectedMistralTools);
}

TEST(ChatTemplateFamilies, SchemaToolsWithRecursiveMacros) {
  EXPECT_EQ(apply(kSchemaToolsStyle, tool_conversation(), weather_tools(), "", "<|im_end|>"), kExpectedSchemaTools);
}

TEST(ChatTemplateApi, VariablesPassedLikeHuggingFace) {
  auto parsed = ChatTemplate::parse(
      "{{ bos_token is defined }} {{ eos_token is defined }} {{ tools is none }} {{ documents is none }} "
      "{{ add_generation_prompt }} {{ messages|length }} {{ enable_thinking }}");
  ASSERT_TRUE(parsed.ok());
  ChatTemplateInputs inputs;
  inputs.messages = Json::parse(R"([{"role":"user","content":"x"}])");
  inputs.add_generation_prompt = false;
  inputs.extra_variables = {{"enable_thinking", true}};
  EXPECT_EQ(*parsed->apply(inputs), "False False True True False 1 True");
  inputs.bos_token = "<s>";
  inputs.eos_token = "";
  inputs.tools = Json::array();
  EXPECT_EQ(*parsed->apply(inputs), "True True False True False 1 True");
}

TEST(ChatTemplateApi, InvalidInputsAreRefusedWithReasons) {
  auto parsed = ChatTemplate::parse("{{ messages }}");
  ASSERT_TRUE(parsed.ok());
  ChatTemplateInputs inputs;
  inputs.messages = Json::object();
  EXPECT_EQ(parsed->apply(inputs).status().message(), "messages must be a JSON array of message objects, got object");
  inputs.messages = Json::parse(R"([{"role":"user"}, 3])");
  EXPECT_EQ(parsed->apply(inputs).status().message(),
            "messages[1] must be an object with \"role\" and \"content\", got number");
  inputs.messages = Json::parse(R"([{"content":"x"}])");
  EXPECT_EQ(parsed->apply(inputs).status().message(),
            "messages[0] needs a string \"role\" (system, user, assistant or tool)");
  inputs.messages = Json::array();
  inputs.tools = "x";
  EXPECT_EQ(parsed->apply(inputs).status().message(), "tools must be a JSON array of tool definitions, got string");
  inputs.tools = nullptr;
  inputs.extra_variables = {{"messages", 1}};
  EXPECT_EQ(parsed->apply(inputs).status().message(),
            "extra template variable 'messages' would replace a standard one; set it through its own field");
  EXPECT_EQ(ChatTemplate::parse("{% if %}").status().message(),
            "TemplateSyntaxError at 1:7: expected an expression, got 'end of statement block'");
  EXPECT_EQ(ChatTemplate::parse("{% if %}").status().code(), ErrorCode::kInvalidArgument);
}

TEST(ChatTemplateApi, RequestBodiesAndBareArrays) {
  auto from_array = chat_inputs_from_json(Json::parse(R"([{"role":"user","content":"a"}])"));
  ASSERT_TRUE(from_array.ok());
  EXPECT_EQ(from_array->messages.size(), 1u);
  auto from_body = chat_inputs_from_json(Json::parse(R"({"model":"m","messages":[],"tools":[{"type":"function"}]})"));
  ASSERT_TRUE(from_body.ok());
  EXPECT_EQ(from_body->tools.size(), 1u);
  EXPECT_EQ(chat_inputs_from_json(Json::parse(R"({"model":"m"})")).status().message(),
            "the JSON object has no \"messages\" array");
  EXPECT_EQ(chat_inputs_from_json(Json(3)).status().message(),
            "expected a JSON array of messages or an object with \"messages\", got number");
}

TEST(ChatTemplateApi, ConcurrentRendersOfOneTemplateAgree) {
  auto parsed = ChatTemplate::parse(kSchemaToolsStyle);
  ASSERT_TRUE(parsed.ok());
  ChatTemplateInputs inputs;
  inputs.messages = tool_conversation();
  inputs.tools = weather_tools();
  inputs.bos_token = "";
  inputs.eos_token = "<|im_end|>";
  std::vector<std::string> results(8);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto out = parsed->apply(inputs, test_options());
        results[t] = out.ok() ? *out : out.status().message();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& r : results) EXPECT_EQ(r, kExpectedSchemaTools);
}

}  // namespace
}  // namespace strata::chat::testing
