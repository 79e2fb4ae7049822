// The server under hostile or heavy traffic: idle connections (slowloris), many clients at
// once, and shutdown while streams run.
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "server/http_task_queue.h"
#include "test_server.h"

namespace strata::server::testing {
namespace {

const Json kChat = Json::parse(R"({"messages":[{"role":"user","content":"Hi"}]})");

TEST(HttpRobustness, IdleConnectionsDoNotStarveRealClients) {
  TestServer s;
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 200; ++i) idle.push_back(std::make_unique<RawConnection>(s.port()));
  // Half of them start a request and stall in its headers.
  for (size_t i = 0; i < idle.size(); i += 2) ASSERT_TRUE(idle[i]->send_all("POST /v1/chat/completions HTTP/1.1\r\nHo"));

  const auto start = std::chrono::steady_clock::now();
  auto r = s.post("/v1/chat/completions", kChat);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  idle.clear();
  EXPECT_EQ(s.client().Get("/health")->status, 200);
}

TEST(HttpRobustness, StalledConnectionsAreDroppedAfterTheirTimeouts) {
  ServerOptions options = test_options();
  options.keep_alive_timeout_s = 1;
  options.read_timeout_s = 1;
  TestServer s(options);
  RawConnection silent(s.port());
  RawConnection stalled(s.port());
  ASSERT_TRUE(stalled.send_all("GET /health HTTP/1.1\r\nHo"));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(silent.read_all(), "");  // closed without a reply after the keep-alive timeout
  // The half-sent request gets a 400 after the read timeout, then the connection closes.
  const std::string reply = stalled.read_all();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_NE(reply.find("\"type\":\"invalid_request_error\""), std::string::npos);
  auto metrics = s.client().Get("/metrics");
  EXPECT_NE(metrics->body.find("strata_requests_total{endpoint=\"other\",status=\"400\"} 1"), std::string::npos);
}

TEST(HttpRobustness, ManyConcurrentStreamsAllComplete) {
  TestServer s;
  s.generator.set_token_delay(std::chrono::milliseconds(2));
  Json body = kChat;
  body["stream"] = true;
  std::vector<std::future<std::string>> replies;
  for (int i = 0; i < 32; ++i) {
    replies.push_back(std::async(std::launch::async, [&] {
      auto r = s.post("/v1/chat/completions", body);
      return r ? r->body : std::string("no reply");
    }));
  }
  for (auto& f : replies) {
    const std::string reply = f.get();
    EXPECT_NE(reply.find("data: [DONE]\n\n"), std::string::npos) << reply;
  }
  EXPECT_EQ(s.generator.requests().size(), 32u);
}

TEST(HttpRobustness, StopEndsRunningStreams) {
  auto s = std::make_unique<TestServer>();
  s->generator.set_manual(true);
  Json body = kChat;
  body["stream"] = true;
  auto reply = std::async(std::launch::async, [&] { return s->post("/v1/chat/completions", body); });
  ASSERT_TRUE(FakeGenerator::eventually([&] { return s->generator.requests().size() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  s->server->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  reply.get();
  EXPECT_TRUE(FakeGenerator::eventually([&] { return s->generator.cancel_calls() == 1; }));
}

TEST(HttpTaskQueue, GrowsWhileBusyAndShrinksWhenIdle) {
  HttpTaskQueue queue(2, 64, std::chrono::milliseconds(100));
  std::atomic<int> running{0};
  std::atomic<bool> release{false};
  for (int i = 0; i < 40; ++i) {
    queue.enqueue([&] {
      ++running;
      while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
  }
  // All 40 run at once: none waits behind a blocked one.
  EXPECT_TRUE(FakeGenerator::eventually([&] { return running.load() == 40; }, std::chrono::seconds(5)));
  EXPECT_GE(queue.thread_count(), 40u);
  EXPECT_LE(queue.thread_count(), 41u);
  release = true;
  EXPECT_TRUE(FakeGenerator::eventually([&] { return queue.thread_count() == 2; }, std::chrono::seconds(5)));
  std::atomic<int> done{0};
  queue.enqueue([&] { ++done; });
  queue.shutdown();
  EXPECT_EQ(done.load(), 1);
}

TEST(HttpTaskQueue, CapLimitsThreadsAndQueuedJobsStillRun) {
  std::atomic<int> done{0};
  {
    HttpTaskQueue queue(1, 4);
    for (int i = 0; i < 50; ++i) {
      queue.enqueue([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ++done;
      });
    }
    EXPECT_LE(queue.thread_count(), 4u);
    queue.shutdown();
  }
  EXPECT_EQ(done.load(), 50);
}

}  // namespace
}  // namespace strata::server::testing
