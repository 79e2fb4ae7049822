// The HTTP endpoints end to end (non-streamed), over the FakeGenerator test double.
#include <gtest/gtest.h>

#include "test_server.h"

namespace strata::server::testing {
namespace {

Json parse(const httplib::Result& r) { return Json::parse(r->body); }

TEST(HttpApi, ModelsListsTheServedModel) {
  TestServer s;
  for (const char* path : {"/v1/models", "/models"}) {
    auto r = s.client().Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json; charset=utf-8");
    const Json j = parse(r);
    EXPECT_EQ(j["object"], "list");
    ASSERT_EQ(j["data"].size(), 1u);
    EXPECT_EQ(j["data"][0]["id"], "test-model");
    EXPECT_EQ(j["data"][0]["object"], "model");
    EXPECT_EQ(j["data"][0]["created"], 1700000000);
    EXPECT_EQ(j["data"][0]["owned_by"], "strata");
  }
}

TEST(HttpApi, HealthFollowsTheGenerator) {
  TestServer s;
  auto ok = s.client().Get("/health");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(parse(ok), Json::parse(R"({"status":"ok"})"));

  s.generator.set_health({engine::HealthState::Status::kLoading, ""});
  auto loading = s.client().Get("/health");
  EXPECT_EQ(loading->status, 503);
  EXPECT_EQ(parse(loading)["status"], "loading");

  s.generator.set_health({engine::HealthState::Status::kDegraded, "worker 10.0.0.2:50051 is gone"});
  auto degraded = s.client().Get("/health");
  EXPECT_EQ(degraded->status, 503);
  EXPECT_EQ(parse(degraded)["status"], "degraded");
  EXPECT_EQ(parse(degraded)["reason"], "worker 10.0.0.2:50051 is gone");
}

TEST(HttpApi, ChatCompletionReply) {
  TestServer s;
  auto r = s.post("/v1/chat/completions",
                  Json::parse(R"({"model":"whatever","messages":[{"role":"system","content":"be nice"},
                                  {"role":"user","content":"Hi"}],"temperature":0.5,"top_k":3,"seed":7,
                                  "max_tokens":50,"logit_bias":{"65":2}})"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const Json j = parse(r);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_GT(j["created"].get<int64_t>(), 1700000000);
  EXPECT_EQ(j["model"], "test-model");
  ASSERT_EQ(j["choices"].size(), 1u);
  const Json& choice = j["choices"][0];
  EXPECT_EQ(choice["index"], 0);
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_EQ(choice["message"]["content"], "Hello, world!");
  EXPECT_FALSE(choice["message"].contains("reasoning_content"));
  EXPECT_TRUE(choice["logprobs"].is_null());
  EXPECT_EQ(choice["finish_reason"], "stop");

  // The generator got the ChatML prompt as tokens, and the sampling settings.
  const auto requests = s.generator.requests();
  ASSERT_EQ(requests.size(), 1u);
  const std::string expected_prompt =
      "<|im_start|>system\nbe nice<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
  auto expected = make_test_tokenizer().tokenize(expected_prompt, {.add_special = true, .parse_special = true});
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(requests[0].prompt, *expected);
  EXPECT_EQ(requests[0].prompt[0], TestVocab::kImStart);
  EXPECT_EQ(requests[0].max_tokens, 50);
  EXPECT_FLOAT_EQ(requests[0].sampling.temperature, 0.5f);
  EXPECT_EQ(requests[0].sampling.top_k, 3);
  EXPECT_EQ(requests[0].sampling.seed, 7u);
  ASSERT_EQ(requests[0].sampling.logit_bias.size(), 1u);
  EXPECT_EQ(requests[0].sampling.logit_bias[0].token, 65);

  // usage: prompt tokens as sent, completion tokens = 13 text tokens + the end token.
  EXPECT_EQ(j["usage"]["prompt_tokens"], static_cast<int64_t>(expected->size()));
  EXPECT_EQ(j["usage"]["completion_tokens"], 14);
  EXPECT_EQ(j["usage"]["total_tokens"], static_cast<int64_t>(expected->size()) + 14);
}

TEST(HttpApi, ChatMaxTokensEndsWithLength) {
  TestServer s;
  auto r = s.post("/chat/completions", Json::parse(R"({"messages":[{"role":"user","content":"Hi"}],"max_tokens":5})"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const Json j = parse(r);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
}

TEST(HttpApi, ContextFullEndsWithLength) {
  TestServer s;
  s.generator.set_script({byte_tokens("abc"), engine::FinishReason::kContextFull, -1, {}});
  auto r = s.post("/v1/chat/completions", Json::parse(R"({"messages":[{"role":"user","content":"Hi"}]})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(parse(r)["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(s.generator.requests()[0].max_tokens, -1);  // no max_tokens: until the context is full
}

TEST(HttpApi, StopStringEndsTheReplyAndCancelsGeneration) {
  TestServer s;
  auto r = s.post("/v1/chat/completions",
                  Json::parse(R"({"messages":[{"role":"user","content":"Hi"}],"stop":["wor","xyz"]})"));
  ASSERT_TRUE(r);
  const Json j = parse(r);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello, ");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["completion_tokens"], 10);  // up to the token that completed "wor"
  EXPECT_TRUE(FakeGenerator::eventually([&] { return s.generator.cancel_calls() == 1; }));
}

TEST(HttpApi, ReasoningContentIsSeparated) {
  TestServer s(test_options(), make_test_model(Reasoning::kStartsInThink));
  std::vector<int32_t> tokens = byte_tokens("Let me think.");
  tokens.push_back(TestVocab::kEndThink);
  for (int32_t t : byte_tokens("\n\n42")) tokens.push_back(t);
  s.generator.set_script({tokens, engine::FinishReason::kEndOfGeneration, TestVocab::kImEnd, {}});
  auto r = s.post("/v1/chat/completions", Json::parse(R"({"messages":[{"role":"user","content":"6*7?"}]})"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const Json message = parse(r)["choices"][0]["message"];
  EXPECT_EQ(message["reasoning_content"], "Let me think.");
  EXPECT_EQ(message["content"], "42");
}

TEST(HttpApi, CompletionWithTextAndTokenPrompts) {
  TestServer s;
  auto text = s.post("/v1/completions", Json::parse(R"({"prompt":"Once","max_tokens":100})"));
  ASSERT_TRUE(text);
  ASSERT_EQ(text->status, 200) << text->body;
  const Json j = parse(text);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_EQ(j["choices"][0]["text"], "Hello, world!");
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 4);

  auto ids = s.post("/completions", Json::parse(R"({"prompt":[79,110,99,101]})"));
  ASSERT_TRUE(ids);
  ASSERT_EQ(ids->status, 200) << ids->body;
  EXPECT_EQ(parse(ids)["choices"][0]["finish_reason"], "stop");  // 13 tokens and the end, under the default 16
  const auto requests = s.generator.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].prompt, byte_tokens("Once"));
  EXPECT_EQ(requests[0].max_tokens, 100);
  EXPECT_EQ(requests[1].prompt, (std::vector<int32_t>{79, 110, 99, 101}));
  EXPECT_EQ(requests[1].max_tokens, 16);
}

TEST(HttpApi, PromptLongerThanTheContextIs400) {
  TestServer s(test_options(), make_test_model(Reasoning::kNone, /*n_ctx=*/16));
  auto r = s.post("/v1/completions", Json::parse(R"({"prompt":"this prompt is longer than sixteen bytes"})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(parse(r)["error"]["code"], "context_length_exceeded");
  auto big = s.post("/v1/completions", Json::parse(R"({"prompt":"hi","max_tokens":100000})"));
  EXPECT_EQ(big->status, 400);
  EXPECT_EQ(parse(big)["error"]["param"], "max_tokens");
  EXPECT_TRUE(s.generator.requests().empty());
}

TEST(HttpApi, TemplateErrorsAre400) {
  ModelInfo model = make_test_model();
  model.chat_template = *chat::ChatTemplate::parse(
      "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first message must be from the user') }}{% endif %}x");
  TestServer s(test_options(), std::move(model));
  auto r = s.post("/v1/chat/completions", Json::parse(R"({"messages":[{"role":"assistant","content":"Hi"}]})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(parse(r)["error"]["message"].get<std::string>().find("first message must be from the user"),
            std::string::npos);
}

TEST(HttpApi, TokenizeAndDetokenize) {
  TestServer s;
  auto r = s.post("/tokenize", Json::parse(R"({"content":"<|im_start|>ab"})"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(parse(r)["tokens"], Json::parse("[257, 97, 98]"));

  auto special = s.post("/tokenize", Json::parse(R"({"content":"a","add_special":true})"));
  EXPECT_EQ(parse(special)["tokens"], Json::parse("[97]"));  // the vocabulary adds no BOS

  auto pieces = s.post("/tokenize", Json::parse(R"({"content":"\u00e9<think>","with_pieces":true})"));
  ASSERT_EQ(pieces->status, 200);
  EXPECT_EQ(parse(pieces)["tokens"],
            Json::parse(R"([{"id":195,"piece":[195]},{"id":169,"piece":[169]},{"id":259,"piece":"<think>"}])"));

  auto text = s.post("/detokenize", Json::parse(R"({"tokens":[72,105,261,195]})"));
  ASSERT_EQ(text->status, 200);
  EXPECT_EQ(parse(text)["content"], "HiHello\xEF\xBF\xBD");  // a lone lead byte is replaced

  EXPECT_EQ(s.post("/detokenize", Json::parse(R"({"tokens":[262]})"))->status, 400);
  EXPECT_EQ(s.post("/tokenize", Json::parse(R"({"text":"a"})"))->status, 400);
}

TEST(HttpApi, ChatPageIsServed) {
  TestServer s;
  auto page = s.client().Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<script src=\"chat.js\">"), std::string::npos);
  EXPECT_EQ(page->body.find("http://"), std::string::npos);  // nothing external
  EXPECT_EQ(page->body.find("https://"), std::string::npos);

  auto js = s.client().Get("/chat.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(js->body.find("v1/chat/completions"), std::string::npos);
  EXPECT_NE(js->body.find("reasoning_content"), std::string::npos);
  EXPECT_EQ(s.client().Get("/chat.css")->status, 200);
}

TEST(HttpApi, MetricsCountRequestsAndTokens) {
  TestServer s;
  s.generator.set_stats({1, 4, 123, 1024, 2, 64});
  ASSERT_EQ(s.post("/v1/chat/completions", Json::parse(R"({"messages":[{"role":"user","content":"Hi"}]})"))->status,
            200);
  ASSERT_EQ(s.post("/v1/chat/completions", std::string("{"))->status, 400);
  auto r = s.client().Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& m = r->body;
  EXPECT_NE(m.find("strata_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 1\n"), std::string::npos);
  EXPECT_NE(m.find("strata_requests_total{endpoint=\"/v1/chat/completions\",status=\"400\"} 1\n"), std::string::npos);
  EXPECT_NE(m.find("strata_tokens_generated_total 14\n"), std::string::npos);
  EXPECT_NE(m.find("strata_time_to_first_token_seconds_count 1\n"), std::string::npos);
  EXPECT_NE(m.find("strata_inter_token_latency_seconds_count 13\n"), std::string::npos);
  EXPECT_NE(m.find("strata_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1\n"), std::string::npos);
  EXPECT_NE(m.find("strata_slots_busy 1\n"), std::string::npos);
  EXPECT_NE(m.find("strata_kv_cells_used 123\n"), std::string::npos);
  EXPECT_NE(m.find("strata_queue_length 2\n"), std::string::npos);
}

}  // namespace
}  // namespace strata::server::testing
