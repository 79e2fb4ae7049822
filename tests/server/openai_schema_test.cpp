// Request parsing: every field's type and range, the OpenAI error shape, and normalization.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "server/openai_schema.h"

namespace strata::server {
namespace {

constexpr RequestLimits kLimits{1000, 512};

ChatCompletionRequest chat_ok(const std::string& body) {
  auto r = parse_chat_completion_request(body, kLimits);
  EXPECT_TRUE(r.ok()) << body << " -> " << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : ChatCompletionRequest{};
}

ApiError chat_error(const std::string& body) {
  auto r = parse_chat_completion_request(body, kLimits);
  EXPECT_FALSE(r.ok()) << body;
  return r.ok() ? ApiError{} : r.error();
}

ApiError completion_error(const std::string& body) {
  auto r = parse_completion_request(body, kLimits);
  EXPECT_FALSE(r.ok()) << body;
  return r.ok() ? ApiError{} : r.error();
}

const std::string kUser = R"("messages":[{"role":"user","content":"hi"}])";

TEST(ChatRequest, MinimalRequestGetsLlamaCppDefaults) {
  const ChatCompletionRequest r = chat_ok("{" + kUser + "}");
  EXPECT_FALSE(r.fields.stream);
  EXPECT_FALSE(r.fields.include_usage);
  EXPECT_FALSE(r.fields.max_tokens.has_value());
  EXPECT_TRUE(r.fields.stop.empty());
  EXPECT_FLOAT_EQ(r.fields.sampling.temperature, 0.8f);
  EXPECT_EQ(r.fields.sampling.top_k, 40);
  EXPECT_EQ(r.fields.sampling.seed, sampling::kRandomSeed);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0]["role"], "user");
  EXPECT_EQ(r.messages[0]["content"], "hi");
  EXPECT_TRUE(r.tools.is_null());
}

TEST(ChatRequest, EveryFieldIsRead) {
  const ChatCompletionRequest r = chat_ok("{" + kUser + R"(,
    "model":"x","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":77,
    "temperature":0.25,"top_p":0.5,"top_k":7,"min_p":0.1,"typical_p":0.9,"presence_penalty":-1.5,
    "frequency_penalty":2,"repeat_penalty":1.1,"repeat_last_n":-1,"seed":1234,"stop":["a","bc"],
    "logit_bias":{"5":-100,"42":3.5},"n":1,"logprobs":false,"response_format":{"type":"text"},
    "chat_template_kwargs":{"enable_thinking":false}})");
  const GenerationFields& f = r.fields;
  EXPECT_EQ(f.model, "x");
  EXPECT_TRUE(f.stream);
  EXPECT_TRUE(f.include_usage);
  EXPECT_EQ(f.max_tokens, 77);
  EXPECT_FLOAT_EQ(f.sampling.temperature, 0.25f);
  EXPECT_FLOAT_EQ(f.sampling.top_p, 0.5f);
  EXPECT_EQ(f.sampling.top_k, 7);
  EXPECT_FLOAT_EQ(f.sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(f.sampling.typical_p, 0.9f);
  EXPECT_FLOAT_EQ(f.sampling.presence_penalty, -1.5f);
  EXPECT_FLOAT_EQ(f.sampling.frequency_penalty, 2.0f);
  EXPECT_FLOAT_EQ(f.sampling.repeat_penalty, 1.1f);
  EXPECT_EQ(f.sampling.penalty_last_n, 512);  // -1: the context size
  EXPECT_EQ(f.sampling.seed, 1234u);
  EXPECT_EQ(f.stop, (std::vector<std::string>{"a", "bc"}));
  ASSERT_EQ(f.sampling.logit_bias.size(), 2u);
  EXPECT_EQ(f.sampling.logit_bias[0].token, 5);
  EXPECT_TRUE(std::isinf(f.sampling.logit_bias[0].bias) && f.sampling.logit_bias[0].bias < 0);  // -100 bans
  EXPECT_EQ(f.sampling.logit_bias[1].token, 42);
  EXPECT_FLOAT_EQ(f.sampling.logit_bias[1].bias, 3.5f);
  EXPECT_EQ(r.template_kwargs["enable_thinking"], false);
}

TEST(ChatRequest, MaxTokensSpellingsAndNoLimit) {
  EXPECT_EQ(chat_ok("{" + kUser + R"(,"max_tokens":5})").fields.max_tokens, 5);
  EXPECT_FALSE(chat_ok("{" + kUser + R"(,"max_tokens":-1})").fields.max_tokens.has_value());
  EXPECT_EQ(chat_ok("{" + kUser + R"(,"max_tokens":null,"stop":"x","seed":-1})").fields.stop,
            std::vector<std::string>{"x"});
}

TEST(ChatRequest, TopPZeroMeansGreedy) {
  const ChatCompletionRequest r = chat_ok("{" + kUser + R"(,"top_p":0})");
  EXPECT_EQ(r.fields.sampling.top_k, 1);
  EXPECT_FLOAT_EQ(r.fields.sampling.top_p, 1.0f);
}

TEST(ChatRequest, MessagesAreNormalizedForTemplates) {
  const ChatCompletionRequest r = chat_ok(R"({"messages":[
      {"role":"developer","content":"be brief"},
      {"role":"user","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}],"name":"ann"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
      {"role":"tool","content":"42","tool_call_id":"c1"}],
    "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]})");
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[0]["role"], "system");
  EXPECT_EQ(r.messages[1]["content"], "one\ntwo");
  EXPECT_EQ(r.messages[1]["name"], "ann");
  EXPECT_TRUE(r.messages[2]["content"].is_null());
  EXPECT_EQ(r.messages[2]["tool_calls"][0]["id"], "c1");
  EXPECT_EQ(r.messages[3]["tool_call_id"], "c1");
  ASSERT_TRUE(r.tools.is_array());
  EXPECT_EQ(r.tools[0]["function"]["name"], "f");
}

TEST(ChatRequest, ErrorsHaveTheOpenAiShape) {
  const ApiError e = chat_error(R"({"messages":[{"role":"wizard","content":"hi"}]})");
  EXPECT_EQ(e.http_status, 400);
  const auto j = e.to_json();
  ASSERT_TRUE(j.contains("error"));
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "messages[0].role");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_NE(j["error"]["message"].get<std::string>().find("wizard"), std::string::npos);
}

struct BadCase {
  std::string body;
  std::string param;     // expected "param" ("" for null)
  std::string fragment;  // expected in the message
};

class BadChatRequest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadChatRequest, IsRefusedNamingTheField) {
  const BadCase& c = GetParam();
  const ApiError e = chat_error(c.body);
  EXPECT_EQ(e.http_status, 400);
  EXPECT_EQ(e.param.value_or(""), c.param) << e.message;
  EXPECT_NE(e.message.find(c.fragment), std::string::npos) << e.message;
}

const std::string kU = R"({"messages":[{"role":"user","content":"hi"}],)";

INSTANTIATE_TEST_SUITE_P(
    Fields, BadChatRequest,
    ::testing::Values(
        BadCase{"", "", "empty"}, BadCase{"{\"messages\":", "", "not valid JSON"},
        BadCase{"[1,2]", "", "must be a JSON object"}, BadCase{"{}", "messages", "required"},
        BadCase{R"({"messages":[]})", "messages", "empty"},
        BadCase{R"({"messages":{"role":"user"}})", "messages", "expected an array"},
        BadCase{R"({"messages":["hi"]})", "messages[0]", "expected an object"},
        BadCase{R"({"messages":[{"content":"hi"}]})", "messages[0].role", "required"},
        BadCase{R"({"messages":[{"role":5,"content":"hi"}]})", "messages[0].role", "expected a string"},
        BadCase{R"({"messages":[{"role":"user"}]})", "messages[0].content", "required"},
        BadCase{R"({"messages":[{"role":"user","content":7}]})", "messages[0].content", "expected a string"},
        BadCase{R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})",
                "messages[0].content[0].type", "not supported"},
        BadCase{R"({"messages":[{"role":"user","content":"a","tool_calls":[]}]})", "messages[0].tool_calls",
                "only assistant"},
        BadCase{kU + R"("n":2})", "n", "must be 1"}, BadCase{kU + R"("n":0})", "n", "out of range"},
        BadCase{kU + R"("max_tokens":-5})", "max_tokens", "out of range"},
        BadCase{kU + R"("max_tokens":0})", "max_tokens", "at least 1"},
        BadCase{kU + R"("max_tokens":"10"})", "max_tokens", "expected an integer, but got a string"},
        BadCase{kU + R"("max_tokens":10.5})", "max_tokens", "expected an integer"},
        BadCase{kU + R"("max_tokens":1e20})", "max_tokens", "expected an integer"},
        BadCase{kU + R"("max_tokens":99999999999999999999})", "max_tokens", "expected an integer"},
        BadCase{kU + R"("max_completion_tokens":4294967296})", "max_completion_tokens", "out of range"},
        BadCase{kU + R"("temperature":2.5})", "temperature", "between 0 and 2"},
        BadCase{kU + R"("temperature":"hot"})", "temperature", "expected a number"},
        BadCase{kU + R"("temperature":true})", "temperature", "expected a number, but got a boolean"},
        BadCase{kU + R"("top_p":1.5})", "top_p", "out of range"},
        BadCase{kU + R"("top_k":-1})", "top_k", "out of range"},
        BadCase{kU + R"("min_p":-0.1})", "min_p", "out of range"},
        BadCase{kU + R"("presence_penalty":3})", "presence_penalty", "between -2 and 2"},
        BadCase{kU + R"("frequency_penalty":-9})", "frequency_penalty", "between -2 and 2"},
        BadCase{kU + R"("repeat_penalty":0})", "repeat_penalty", "(0, 100]"},
        BadCase{kU + R"("seed":-2})", "seed", "out of range"},
        BadCase{kU + R"("seed":"1"})", "seed", "expected an integer"},
        BadCase{kU + R"("stream":"yes"})", "stream", "expected a boolean"},
        BadCase{kU + R"("stream_options":{"include_usage":true}})", "stream_options", "only allowed when"},
        BadCase{kU + R"("stream":true,"stream_options":{"include_usage":1}})", "stream_options.include_usage",
                "expected a boolean"},
        BadCase{kU + R"("stop":5})", "stop", "string or an array"},
        BadCase{kU + R"("stop":["a",1]})", "stop", "stop[1]"}, BadCase{kU + R"("stop":[""]})", "stop", "empty"},
        BadCase{kU + R"("logit_bias":[1]})", "logit_bias", "expected an object"},
        BadCase{kU + R"("logit_bias":{"abc":1}})", "logit_bias", "invalid key 'abc'"},
        BadCase{kU + R"("logit_bias":{"1000":1}})", "logit_bias", "invalid key '1000'"},
        BadCase{kU + R"("logit_bias":{"-1":1}})", "logit_bias", "invalid key"},
        BadCase{kU + R"("logit_bias":{"3":200}})", "logit_bias", "between -100 and 100"},
        BadCase{kU + R"("logit_bias":{"3":"x"}})", "logit_bias", "expected a number"},
        BadCase{kU + R"("logprobs":true})", "logprobs", "not supported"},
        BadCase{kU + R"("top_logprobs":2})", "top_logprobs", "not supported"},
        BadCase{kU + R"("response_format":{"type":"json_object"}})", "response_format.type", "not supported"},
        BadCase{kU + R"("tools":{}})", "tools", "expected an array"},
        BadCase{kU + R"("tools":[{"type":"function"}]})", "tools[0].function", "required"},
        BadCase{kU + R"("tools":[{"type":"retrieval","function":{"name":"f"}}]})", "tools[0].type", "only"},
        BadCase{kU + R"("chat_template_kwargs":[]})", "chat_template_kwargs", "expected an object"}));

TEST(ChatRequest, InvalidUtf8IsRefused) {
  const std::string body = R"({"messages":[{"role":"user","content":"bad )" + std::string("\xC3\x28") + R"("}]})";
  const ApiError e = chat_error(body);
  EXPECT_EQ(e.http_status, 400);
  EXPECT_NE(e.message.find("UTF-8"), std::string::npos) << e.message;
  // The error body itself stays valid JSON.
  EXPECT_TRUE(nlohmann::json::accept(e.body()));
}

TEST(ChatRequest, LoneSurrogateEscapeIsRefused) {
  EXPECT_EQ(chat_error(R"({"messages":[{"role":"user","content":"\ud800"}]})").http_status, 400);
}

TEST(ChatRequest, DeepNestingIsRefusedBeforeParsing) {
  std::string body = kU + R"("x":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  const ApiError e = chat_error(body);
  EXPECT_NE(e.message.find("nests deeper"), std::string::npos) << e.message;
  // Brackets inside strings do not count.
  chat_ok(R"({"messages":[{"role":"user","content":")" + std::string(1000, '[') + R"("}]})");
}

TEST(CompletionRequest, PromptForms) {
  auto text = parse_completion_request(R"({"prompt":"once upon"})", kLimits);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(std::get<std::string>(text->prompt), "once upon");
  EXPECT_EQ(text->fields.max_tokens, kDefaultCompletionMaxTokens);  // OpenAI's default of 16

  auto ids = parse_completion_request(R"({"prompt":[1,2,999],"max_tokens":-1})", kLimits);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(std::get<std::vector<int32_t>>(ids->prompt), (std::vector<int32_t>{1, 2, 999}));
  EXPECT_FALSE(ids->fields.max_tokens.has_value());

  auto one_string = parse_completion_request(R"({"prompt":["a"]})", kLimits);
  ASSERT_TRUE(one_string.ok());
  EXPECT_EQ(std::get<std::string>(one_string->prompt), "a");
  auto one_list = parse_completion_request(R"({"prompt":[[4,5]]})", kLimits);
  ASSERT_TRUE(one_list.ok());
  EXPECT_EQ(std::get<std::vector<int32_t>>(one_list->prompt), (std::vector<int32_t>{4, 5}));
}

TEST(CompletionRequest, BadPrompts) {
  EXPECT_EQ(completion_error("{}").param, "prompt");
  EXPECT_NE(completion_error(R"({"prompt":["a","b"]})").message.find("one prompt"), std::string::npos);
  EXPECT_NE(completion_error(R"({"prompt":[]})").message.find("empty"), std::string::npos);
  EXPECT_NE(completion_error(R"({"prompt":[1,1000]})").message.find("prompt[1]"), std::string::npos);
  EXPECT_NE(completion_error(R"({"prompt":[1,-3]})").message.find("not a token id"), std::string::npos);
  EXPECT_NE(completion_error(R"({"prompt":[1,"a"]})").message.find("not a token id"), std::string::npos);
  EXPECT_EQ(completion_error(R"({"prompt":5})").param, "prompt");
  EXPECT_EQ(completion_error(R"({"prompt":"a","echo":true})").param, "echo");
  EXPECT_EQ(completion_error(R"({"prompt":"a","best_of":2})").param, "best_of");
  EXPECT_EQ(completion_error(R"({"prompt":"a","suffix":"z"})").param, "suffix");
  EXPECT_EQ(completion_error(R"({"prompt":"a","logprobs":3})").param, "logprobs");
  EXPECT_EQ(completion_error(R"({"prompt":"a","n":3})").param, "n");
}

TEST(TokenizeRequest, FieldsAndDefaults) {
  auto r = parse_tokenize_request(R"({"content":"hi"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "hi");
  EXPECT_FALSE(r->add_special);
  EXPECT_TRUE(r->parse_special);
  EXPECT_FALSE(r->with_pieces);
  auto all = parse_tokenize_request(R"({"content":"","add_special":true,"parse_special":false,"with_pieces":true})");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->add_special && !all->parse_special && all->with_pieces);
  EXPECT_FALSE(parse_tokenize_request("{}").ok());
  EXPECT_FALSE(parse_tokenize_request(R"({"content":1})").ok());
  EXPECT_FALSE(parse_tokenize_request(R"({"content":"a","with_pieces":"yes"})").ok());
}

TEST(DetokenizeRequest, IdsAreChecked) {
  auto r = parse_detokenize_request(R"({"tokens":[0,5,999]})", kLimits);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tokens, (std::vector<int32_t>{0, 5, 999}));
  EXPECT_TRUE(parse_detokenize_request(R"({"tokens":[]})", kLimits).ok());
  EXPECT_FALSE(parse_detokenize_request(R"({"tokens":[1000]})", kLimits).ok());
  EXPECT_FALSE(parse_detokenize_request(R"({"tokens":"1,2"})", kLimits).ok());
  EXPECT_FALSE(parse_detokenize_request(R"({})", kLimits).ok());
}

}  // namespace
}  // namespace strata::server
