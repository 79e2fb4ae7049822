// Error replies over HTTP: statuses, OpenAI error bodies, auth, limits, queue full, and the
// headers every reply carries (X-Request-ID, CORS).
#include <gtest/gtest.h>

#include <cstdlib>

#include "test_server.h"

namespace strata::server::testing {
namespace {

const char* kChatPath = "/v1/chat/completions";

// The reply is an OpenAI error object with this status and type.
Json expect_error(const httplib::Result& r, int status, const std::string& type = "invalid_request_error") {
  EXPECT_TRUE(r);
  if (!r) return {};
  EXPECT_EQ(r->status, status) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json; charset=utf-8");
  Json j;
  EXPECT_NO_THROW(j = Json::parse(r->body)) << r->body;
  EXPECT_TRUE(j.contains("error")) << r->body;
  const Json& e = j["error"];
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty());
  EXPECT_EQ(e["type"], type);
  EXPECT_TRUE(e.contains("param"));
  EXPECT_TRUE(e.contains("code"));
  return e;
}

TEST(HttpErrors, BadRequestsAre400WithTheFieldNamed) {
  TestServer s;
  expect_error(s.post(kChatPath, std::string("{not json")), 400);
  expect_error(s.post(kChatPath, std::string("")), 400);
  EXPECT_EQ(expect_error(s.post(kChatPath, Json::parse(R"({"messages":[]})")), 400)["param"], "messages");
  EXPECT_EQ(expect_error(s.post(kChatPath, Json::parse(R"({"messages":[{"role":"robot","content":"x"}]})")), 400)["param"],
            "messages[0].role");
  const Json u = Json::parse(R"({"messages":[{"role":"user","content":"x"}]})");
  Json n2 = u;
  n2["n"] = 2;
  EXPECT_EQ(expect_error(s.post(kChatPath, n2), 400)["param"], "n");
  Json neg = u;
  neg["max_tokens"] = -7;
  EXPECT_EQ(expect_error(s.post(kChatPath, neg), 400)["param"], "max_tokens");
  Json type = u;
  type["temperature"] = "warm";
  EXPECT_EQ(expect_error(s.post(kChatPath, type), 400)["param"], "temperature");
  const std::string bad_utf8 = std::string(R"({"messages":[{"role":"user","content":")") + "\xFF\xFE" + R"("}]})";
  EXPECT_NE(expect_error(s.post(kChatPath, bad_utf8), 400)["message"].get<std::string>().find("UTF-8"),
            std::string::npos);
  expect_error(s.post("/v1/completions", Json::parse(R"({"prompt":[1,99999]})")), 400);
  EXPECT_TRUE(s.generator.requests().empty());
  // The server is still fine.
  EXPECT_EQ(s.post(kChatPath, u)->status, 200);
}

TEST(HttpErrors, UnknownRouteIs404AndWrongMethodIs405) {
  TestServer s;
  EXPECT_EQ(expect_error(s.client().Get("/v2/nothing"), 404)["code"], "not_found");
  expect_error(s.post("/nope", std::string("{}")), 404);
  auto get_chat = s.client().Get(kChatPath);
  EXPECT_EQ(expect_error(get_chat, 405)["code"], "method_not_allowed");
  EXPECT_EQ(get_chat->get_header_value("Allow"), "POST, OPTIONS");
  auto post_models = s.post("/v1/models", std::string("{}"));
  expect_error(post_models, 405);
  EXPECT_EQ(post_models->get_header_value("Allow"), "GET, HEAD, OPTIONS");
  expect_error(s.client().Delete("/health"), 405);
}

TEST(HttpErrors, ApiKeyIsRequiredExceptForHealthAndThePage) {
  ServerOptions options = test_options();
  options.api_key = "sk-test-123";
  TestServer s(options);
  const Json body = Json::parse(R"({"messages":[{"role":"user","content":"x"}]})");
  auto missing = s.post(kChatPath, body);
  EXPECT_EQ(expect_error(missing, 401)["code"], "invalid_api_key");
  EXPECT_EQ(missing->get_header_value("WWW-Authenticate"), "Bearer");
  expect_error(s.post(kChatPath, body, {{"Authorization", "Bearer sk-test-124"}}), 401);
  expect_error(s.post(kChatPath, body, {{"Authorization", "sk-test-123"}}), 401);
  expect_error(s.post(kChatPath, body, {{"Authorization", "Bearer sk-test-1234"}}), 401);
  expect_error(s.client().Get("/v1/models"), 401);
  expect_error(s.client().Get("/metrics"), 401);
  EXPECT_TRUE(s.generator.requests().empty());

  EXPECT_EQ(s.post(kChatPath, body, {{"Authorization", "Bearer sk-test-123"}})->status, 200);
  EXPECT_EQ(s.post(kChatPath, body, {{"Authorization", "bearer sk-test-123"}})->status, 200);
  auto models = s.client().Get("/v1/models", {{"Authorization", "Bearer sk-test-123"}});
  EXPECT_EQ(models->status, 200);
  EXPECT_EQ(s.client().Get("/health")->status, 200);
  EXPECT_EQ(s.client().Get("/")->status, 200);
}

TEST(HttpErrors, HundredMegabyteBodyIsRefusedFromItsContentLength) {
  TestServer s;
  RawConnection c(s.port());
  const auto start = std::chrono::steady_clock::now();
  // Only the headers and a few bytes are sent; the 413 must come without the rest.
  ASSERT_TRUE(c.send_all("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                         "Content-Length: 104857600\r\n\r\n{\"messages\":"));
  const std::string reply = c.read_all();  // the server closes after replying
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply;
  EXPECT_NE(reply.find("Connection: close"), std::string::npos);
  const Json j = Json::parse(reply.substr(reply.find("\r\n\r\n") + 4));
  EXPECT_EQ(j["error"]["code"], "request_too_large");
  EXPECT_TRUE(s.generator.requests().empty());
  auto metrics = s.client().Get("/metrics");
  EXPECT_NE(metrics->body.find("strata_requests_total{endpoint=\"/v1/chat/completions\",status=\"413\"} 1"),
            std::string::npos);
  EXPECT_EQ(s.post("/v1/chat/completions", Json::parse(R"({"messages":[{"role":"user","content":"x"}]})"))->status,
            200);
}

TEST(HttpErrors, ChunkedBodyOverTheLimitIs413) {
  ServerOptions options = test_options();
  options.max_body_bytes = 1 << 16;
  TestServer s(options);
  RawConnection c(s.port());
  ASSERT_TRUE(c.send_all("POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"));
  const std::string piece(8192, 'a');
  char size_line[32];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", piece.size());
  for (int i = 0; i < 12; ++i) {
    if (!c.send_all(std::string(size_line) + piece + "\r\n")) break;  // the server may close early
  }
  const std::string reply = c.read_until([](const std::string& t) { return t.find("}}") != std::string::npos; });
  EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply;
  EXPECT_NE(reply.find("request_too_large"), std::string::npos);
}

TEST(HttpErrors, BodyWithoutLengthIs411) {
  TestServer s;
  RawConnection c(s.port());
  ASSERT_TRUE(c.send_all("POST /v1/completions HTTP/1.1\r\nHost: t\r\n\r\n"));
  const std::string reply = c.read_all();
  EXPECT_EQ(reply.rfind("HTTP/1.1 411", 0), 0u) << reply;
}

TEST(HttpErrors, QueueFullIs503WithRetryAfter) {
  TestServer s;
  s.generator.set_submit_error(resource_exhausted("the queue holds 64 requests (--queue-size 64)"));
  auto r = s.post(kChatPath, Json::parse(R"({"messages":[{"role":"user","content":"x"}]})"));
  const Json e = expect_error(r, 503, "server_error");
  EXPECT_EQ(e["code"], "server_overloaded");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_NE(e["message"].get<std::string>().find("--queue-size"), std::string::npos);

  s.generator.set_submit_error(unavailable("still loading the model"));
  expect_error(s.post("/v1/completions", Json::parse(R"({"prompt":"x"})")), 503, "server_error");
}

TEST(HttpErrors, RequestIdIsEchoedOrGenerated) {
  TestServer s;
  auto echoed = s.client().Get("/health", {{"X-Request-ID", "abc-123"}});
  EXPECT_EQ(echoed->get_header_value("X-Request-ID"), "abc-123");
  auto generated = s.client().Get("/health");
  const std::string id = generated->get_header_value("X-Request-ID");
  EXPECT_EQ(id.rfind("req-", 0), 0u);
  EXPECT_GT(id.size(), 10u);
  EXPECT_NE(s.client().Get("/health")->get_header_value("X-Request-ID"), id);
  // Unusable ids (spaces, too long) are replaced.
  auto spaced = s.client().Get("/health", {{"X-Request-ID", "a b"}});
  EXPECT_NE(spaced->get_header_value("X-Request-ID"), "a b");
  // Errors carry one too.
  EXPECT_FALSE(s.client().Get("/missing")->get_header_value("X-Request-ID").empty());
}

TEST(HttpErrors, CorsHeadersAndPreflight) {
  ServerOptions options = test_options();
  options.api_key = "k";  // preflight must not need it
  TestServer s(options);
  auto pre = s.client().Options(kChatPath, {{"Origin", "http://example.test"},
                                            {"Access-Control-Request-Method", "POST"},
                                            {"Access-Control-Request-Headers", "authorization, content-type"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Methods"), "POST, OPTIONS");
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Headers"), "authorization, content-type");
  EXPECT_FALSE(pre->get_header_value("Access-Control-Max-Age").empty());
  auto err = s.client().Get("/v1/models");
  EXPECT_EQ(err->status, 401);
  EXPECT_EQ(err->get_header_value("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(s.client().Get("/health")->get_header_value("Access-Control-Allow-Origin"), "*");
}

}  // namespace
}  // namespace strata::server::testing
