// Streamed replies: SSE framing byte for byte, chunk contents, usage, stop strings, reasoning,
// errors mid-stream, and cancellation when the client goes away.
#include <gtest/gtest.h>

#include "test_server.h"

namespace strata::server::testing {
namespace {

const Json kChat = Json::parse(R"({"messages":[{"role":"user","content":"Hi"}],"stream":true})");

struct Stream {
  std::string body;
  std::vector<Json> chunks;  // every event but [DONE]
  bool done = false;         // the last event was [DONE]
};

Stream stream_request(const TestServer& s, const std::string& path, const Json& body) {
  auto r = s.post(path, body);
  EXPECT_TRUE(r);
  Stream out;
  if (!r) return out;
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  out.body = r->body;
  const std::vector<std::string> payloads = sse_payloads(r->body);
  for (size_t i = 0; i < payloads.size(); ++i) {
    if (payloads[i] == "[DONE]") {
      EXPECT_EQ(i + 1, payloads.size()) << "[DONE] must be last";
      out.done = true;
      break;
    }
    Json chunk = Json::parse(payloads[i]);
    EXPECT_EQ(chunk.dump(), payloads[i]) << "payloads are compact JSON";
    out.chunks.push_back(std::move(chunk));
  }
  return out;
}

std::string content_of(const Stream& s, const char* field = "content") {
  std::string text;
  for (const Json& c : s.chunks) {
    if (c["choices"].empty()) continue;
    const Json& delta = c["choices"][0]["delta"];
    if (delta.contains(field)) text += delta[field].get<std::string>();
  }
  return text;
}

// One token, so the split into chunks does not depend on timing (tokens that arrive together
// share a chunk).
TEST(HttpStream, ChatFramingIsExactlyOpenAis) {
  TestServer s;
  s.generator.set_script({{TestVocab::kHello}, engine::FinishReason::kEndOfGeneration, TestVocab::kEndOfText, {}});
  for (const bool usage : {false, true}) {
    Json body = kChat;
    if (usage) body["stream_options"] = {{"include_usage", true}};
    const Stream st = stream_request(s, "/v1/chat/completions", body);
    ASSERT_TRUE(st.done);
    ASSERT_EQ(st.chunks.size(), usage ? 4u : 3u);  // role, content, finish (, usage)
    const std::string id = st.chunks[0]["id"];
    const int64_t created = st.chunks[0]["created"];
    const std::string head = "data: {\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":" +
                             std::to_string(created) + ",\"model\":\"test-model\",\"choices\":";
    const std::string tail = usage ? ",\"usage\":null}\n\n" : "}\n\n";
    auto chunk = [&](const std::string& delta, const std::string& finish) {
      return head + "[{\"index\":0,\"delta\":" + delta + ",\"logprobs\":null,\"finish_reason\":" + finish + "}]" + tail;
    };
    std::string expected = chunk(R"({"role":"assistant","content":""})", "null") +
                           chunk(R"({"content":"Hello"})", "null") + chunk("{}", "\"stop\"");
    if (usage) {
      const int64_t prompt = st.chunks[3]["usage"]["prompt_tokens"];
      expected += head + "[],\"usage\":{\"prompt_tokens\":" + std::to_string(prompt) +
                  ",\"completion_tokens\":2,\"total_tokens\":" + std::to_string(prompt + 2) +
                  ",\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n";
    }
    expected += "data: [DONE]\n\n";
    EXPECT_EQ(st.body, expected);
  }
}

TEST(HttpStream, IncludeUsageAddsUsageNullAndAFinalUsageChunk) {
  TestServer s;
  Json body = kChat;
  body["stream_options"] = {{"include_usage", true}};
  const Stream st = stream_request(s, "/v1/chat/completions", body);
  ASSERT_TRUE(st.done);
  ASSERT_GE(st.chunks.size(), 3u);
  for (size_t i = 0; i + 1 < st.chunks.size(); ++i) {
    ASSERT_TRUE(st.chunks[i].contains("usage"));
    EXPECT_TRUE(st.chunks[i]["usage"].is_null());
  }
  const Json& finish = st.chunks[st.chunks.size() - 2];
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "stop");
  const Json& usage = st.chunks.back();
  EXPECT_EQ(usage["object"], "chat.completion.chunk");
  EXPECT_TRUE(usage["choices"].is_array() && usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 14);
  EXPECT_EQ(usage["usage"]["total_tokens"],
            usage["usage"]["prompt_tokens"].get<int64_t>() + usage["usage"]["completion_tokens"].get<int64_t>());
  EXPECT_EQ(content_of(st), "Hello, world!");
}

TEST(HttpStream, WithoutIncludeUsageThereIsNoUsageKey) {
  TestServer s;
  const Stream st = stream_request(s, "/v1/chat/completions", kChat);
  for (const Json& c : st.chunks) EXPECT_FALSE(c.contains("usage"));
  EXPECT_EQ(content_of(st), "Hello, world!");
}

TEST(HttpStream, StopStringSplitAcrossTokensNeverReachesTheClient) {
  TestServer s;
  s.generator.set_script({byte_tokens("one <|END|> two"), engine::FinishReason::kEndOfGeneration, -1, {}});
  Json body = kChat;
  body["stop"] = "<|END|>";
  const Stream st = stream_request(s, "/v1/chat/completions", body);
  ASSERT_TRUE(st.done);
  EXPECT_EQ(content_of(st), "one ");
  EXPECT_EQ(st.body.find("END"), std::string::npos);
  EXPECT_EQ(st.chunks.back()["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(FakeGenerator::eventually([&] { return s.generator.cancel_calls() == 1; }));
}

TEST(HttpStream, ReasoningContentStreamsSeparately) {
  TestServer s(test_options(), make_test_model(Reasoning::kTags));
  std::vector<int32_t> tokens = {TestVocab::kThink};
  for (int32_t t : byte_tokens("a plan")) tokens.push_back(t);
  tokens.push_back(TestVocab::kEndThink);
  for (int32_t t : byte_tokens("\n\nthe answer")) tokens.push_back(t);
  s.generator.set_script({tokens, engine::FinishReason::kEndOfGeneration, TestVocab::kImEnd, {}});
  const Stream st = stream_request(s, "/v1/chat/completions", kChat);
  ASSERT_TRUE(st.done);
  EXPECT_EQ(content_of(st, "reasoning_content"), "a plan");
  EXPECT_EQ(content_of(st), "the answer");
  EXPECT_EQ(st.body.find("think>"), std::string::npos);
  // Reasoning chunks come before content chunks, each with one field.
  bool seen_content = false;
  for (const Json& c : st.chunks) {
    const Json& delta = c["choices"][0]["delta"];
    if (delta.contains("reasoning_content")) {
      EXPECT_FALSE(seen_content);
      EXPECT_EQ(delta.size(), 1u);
    }
    if (delta.contains("content") && !delta["content"].get<std::string>().empty()) seen_content = true;
  }
}

TEST(HttpStream, TextCompletionStream) {
  TestServer s;
  s.generator.set_script({{TestVocab::kHello}, engine::FinishReason::kEndOfGeneration, TestVocab::kEndOfText, {}});
  const Stream st = stream_request(
      s, "/v1/completions", Json::parse(R"({"prompt":"x","stream":true,"stream_options":{"include_usage":true}})"));
  ASSERT_TRUE(st.done);
  ASSERT_EQ(st.chunks.size(), 3u);  // text, finish, usage
  EXPECT_EQ(st.chunks[0]["object"], "text_completion");
  EXPECT_EQ(st.chunks[0]["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  EXPECT_EQ(st.chunks[0]["choices"][0]["text"], "Hello");
  EXPECT_TRUE(st.chunks[0]["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(st.chunks[0]["usage"].is_null());
  EXPECT_EQ(st.chunks[1]["choices"][0]["text"], "");
  EXPECT_EQ(st.chunks[1]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(st.chunks[2]["object"], "text_completion");
  EXPECT_TRUE(st.chunks[2]["choices"].empty());
  EXPECT_EQ(st.chunks[2]["usage"]["completion_tokens"], 2);
  EXPECT_EQ(st.chunks[2]["usage"]["prompt_tokens"], 1);
}

TEST(HttpStream, GeneratorErrorMidStreamIsAnErrorEvent) {
  TestServer s;
  s.generator.set_script({byte_tokens("par"), engine::FinishReason::kError, -1, unavailable("worker 2 disconnected")});
  auto r = s.post("/v1/chat/completions", kChat);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);  // headers were sent before the failure
  const std::vector<std::string> payloads = sse_payloads(r->body);
  ASSERT_GE(payloads.size(), 2u);
  const Json last = Json::parse(payloads.back());
  EXPECT_EQ(last["error"]["message"], "worker 2 disconnected");
  EXPECT_EQ(last["error"]["type"], "server_error");
  EXPECT_EQ(r->body.find("[DONE]"), std::string::npos);
}

TEST(HttpStream, GeneratorErrorWithoutStreamIsAnHttpError) {
  TestServer s;
  s.generator.set_script({byte_tokens("par"), engine::FinishReason::kError, -1, unavailable("worker 2 disconnected")});
  auto r = s.post("/v1/chat/completions", Json::parse(R"({"messages":[{"role":"user","content":"Hi"}]})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(Json::parse(r->body)["error"]["message"], "worker 2 disconnected");
}

TEST(HttpStream, ClientDisconnectCancelsWithinOneToken) {
  TestServer s;
  s.generator.set_manual(true);
  s.generator.set_script({byte_tokens(std::string(100, 'x')), engine::FinishReason::kEndOfGeneration, -1, {}});
  {
    RawConnection c(s.port());
    const std::string body = kChat.dump();
    ASSERT_TRUE(c.send_all("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
    ASSERT_TRUE(FakeGenerator::eventually([&] { return s.generator.requests().size() == 1; }));
    s.generator.step(1);
    const std::string seen =
        c.read_until([](const std::string& t) { return t.find("\"content\":\"x\"") != std::string::npos; });
    ASSERT_NE(seen.find("\"content\":\"x\""), std::string::npos) << seen;
    ASSERT_EQ(s.generator.cancel_calls(), 0);
  }  // the client closes the connection here
  const int sent_before = s.generator.tokens_sent(1);
  s.generator.step(1);  // at most one more token may be produced before the cancel
  EXPECT_TRUE(FakeGenerator::eventually([&] { return s.generator.cancel_calls() >= 1; }, std::chrono::seconds(3)));
  EXPECT_LE(s.generator.tokens_sent(1), sent_before + 1);
  EXPECT_TRUE(FakeGenerator::eventually([&] { return s.generator.finished() == 1; }));
}

TEST(HttpStream, StreamTimesOutWithAnErrorEvent) {
  ServerOptions options = test_options();
  options.request_timeout_s = 1;
  TestServer s(options);
  s.generator.set_manual(true);  // never produces a token
  auto start = std::chrono::steady_clock::now();
  auto r = s.post("/v1/chat/completions", kChat);
  ASSERT_TRUE(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  const std::vector<std::string> payloads = sse_payloads(r->body);
  ASSERT_EQ(payloads.size(), 2u);  // role chunk, error
  EXPECT_EQ(Json::parse(payloads[1])["error"]["code"], "timeout");
  EXPECT_TRUE(FakeGenerator::eventually([&] { return s.generator.cancel_calls() == 1; }));
}

TEST(HttpStream, NonStreamedTimeoutIs504) {
  ServerOptions options = test_options();
  options.request_timeout_s = 1;
  TestServer s(options);
  s.generator.set_manual(true);
  auto r = s.post("/v1/completions", Json::parse(R"({"prompt":"x"})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  EXPECT_EQ(Json::parse(r->body)["error"]["code"], "timeout");
}

}  // namespace
}  // namespace strata::server::testing
