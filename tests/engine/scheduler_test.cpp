// Scheduler: results equal the one-sequence generator, concurrent requests, chunked prompts,
// prefix reuse (own slot and copied from another), cancellation, queue bound, context limit,
// bad requests, and shutdown with requests in flight.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "backend/cpu/cpu_backend.h"
#include "engine/generator.h"
#include "model/tiny_model.h"
#include "support/temp_dir.h"

namespace strata::engine {
namespace {

using testing::TinySpec;

struct Fixture {
  testing::TempDir dir;
  gguf::File file;
  std::unique_ptr<backend::cpu::CpuBackend> backend;
  std::unique_ptr<model::Model> model;
};

std::unique_ptr<Fixture> load(uint32_t n_seq, uint64_t n_ctx, uint32_t n_batch = 32) {
  auto f = std::make_unique<Fixture>();
  f->file = *gguf::File::open(testing::write_tiny_model(TinySpec{}, f->dir.path()));
  f->backend = std::move(*backend::cpu::CpuBackend::create(2));
  model::ModelConfig config;
  config.kv.n_ctx = n_ctx;
  config.kv.n_seq = n_seq;
  config.kv.type_k = quant::Type::F32;
  config.kv.type_v = quant::Type::F32;
  config.n_batch = n_batch;
  auto model = model::Model::load(f->file, *f->backend, config);
  EXPECT_TRUE(model.ok()) << model.status().message();
  f->model = std::move(*model);
  return f;
}

// Collects one request's events; wait() blocks until the final one.
class Collector {
 public:
  EventCallback callback() {
    return [this](const TokenEvent& event) {
      std::lock_guard lock(mutex_);
      events_.push_back(event);
      if (on_event_) on_event_(events_.size());
      if (event.finish != FinishReason::kNone) {
        done_ = true;
        cv_.notify_all();
      }
    };
  }
  // Runs (on the scheduler's thread) after each event with the number of events so far.
  void set_on_event(std::function<void(size_t)> f) { on_event_ = std::move(f); }

  bool wait(std::chrono::seconds limit = std::chrono::seconds(60)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [&] { return done_; });
  }
  std::vector<int32_t> tokens() const {
    std::lock_guard lock(mutex_);
    std::vector<int32_t> out;
    for (const TokenEvent& e : events_) {
      if (e.token >= 0) out.push_back(e.token);
    }
    return out;
  }
  TokenEvent last() const {
    std::lock_guard lock(mutex_);
    return events_.back();
  }
  size_t n_final() const {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const TokenEvent& e : events_) n += e.finish != FinishReason::kNone ? 1 : 0;
    return n;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<TokenEvent> events_;
  std::function<void(size_t)> on_event_;
  bool done_ = false;
};

GenerationRequest greedy(std::vector<int32_t> prompt, int32_t max_tokens) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0.0f;
  r.max_tokens = max_tokens;
  return r;
}

std::vector<int32_t> solo_tokens(const std::vector<int32_t>& prompt, int32_t n) {
  auto f = load(1, 64);
  GenerateOptions options;
  options.n_predict = n;
  options.sampling.temperature = 0.0f;
  auto result = generate(*f->model, prompt, options);
  EXPECT_TRUE(result.ok()) << result.status().message();
  return result.ok() ? result->generated : std::vector<int32_t>{};
}

std::vector<int32_t> iota_prompt(int32_t first, size_t n) {
  std::vector<int32_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<int32_t>((first + 7 * i) % 96);
  return p;
}

const std::vector<int32_t> kPrompt = {1, 17, 42, 5, 88, 63, 9};

TEST(SchedulerTest, OneRequestMatchesTheSequenceGenerator) {
  const std::vector<int32_t> expected = solo_tokens(kPrompt, 10);
  auto f = load(2, 128);
  auto scheduler = *Scheduler::create(*f->model, {});
  Collector c;
  ASSERT_TRUE(scheduler->submit(greedy(kPrompt, 10), c.callback()).ok());
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.tokens(), expected);
  const TokenEvent last = c.last();
  EXPECT_EQ(last.finish, FinishReason::kMaxTokens);
  EXPECT_EQ(c.n_final(), 1u);
  EXPECT_EQ(last.timings.n_prompt, 7);
  EXPECT_EQ(last.timings.n_generated, 10);
  EXPECT_EQ(last.timings.n_cached, 0);
  EXPECT_GT(last.timings.prompt_ms, 0.0);
}

TEST(SchedulerTest, ConcurrentRequestsEachGetTheirOwnGreedyTokens) {
  std::vector<std::vector<int32_t>> prompts = {kPrompt, iota_prompt(3, 11), iota_prompt(50, 5), iota_prompt(20, 19)};
  std::vector<std::vector<int32_t>> expected;
  for (const auto& p : prompts) expected.push_back(solo_tokens(p, 12));

  auto f = load(4, 4 * 64);
  auto scheduler = *Scheduler::create(*f->model, {});
  std::vector<Collector> collectors(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_TRUE(scheduler->submit(greedy(prompts[i], 12), collectors[i].callback()).ok());
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_TRUE(collectors[i].wait());
    // Rows of one batch are computed independently, so batching changes no token.
    EXPECT_EQ(collectors[i].tokens(), expected[i]) << "request " << i;
    EXPECT_EQ(collectors[i].n_final(), 1u);
  }
  EXPECT_EQ(scheduler->stats().slots_busy, 0);
}

TEST(SchedulerTest, LongPromptIsPrefilledInChunks) {
  const std::vector<int32_t> prompt = iota_prompt(4, 50);  // the batch holds 16 tokens
  const std::vector<int32_t> expected = solo_tokens(prompt, 6);
  auto f = load(2, 128, 16);
  SchedulerConfig config;
  config.prefill_chunk = 4;
  auto scheduler = *Scheduler::create(*f->model, config);
  Collector running, chunked;
  ASSERT_TRUE(scheduler->submit(greedy(kPrompt, 20), running.callback()).ok());
  ASSERT_TRUE(scheduler->submit(greedy(prompt, 6), chunked.callback()).ok());
  ASSERT_TRUE(chunked.wait());
  ASSERT_TRUE(running.wait());
  EXPECT_EQ(chunked.tokens(), expected);
  EXPECT_EQ(running.tokens().size(), 20u);
}

TEST(SchedulerTest, FollowUpTurnReusesTheCachedPrefix) {
  auto f = load(2, 128);
  auto scheduler = *Scheduler::create(*f->model, {});
  Collector first;
  ASSERT_TRUE(scheduler->submit(greedy(kPrompt, 4), first.callback()).ok());
  ASSERT_TRUE(first.wait());
  // The next turn: the first prompt, the answer minus its last token (never fed back), more.
  std::vector<int32_t> turn = kPrompt;
  const std::vector<int32_t> answer = first.tokens();
  turn.insert(turn.end(), answer.begin(), answer.end() - 1);
  turn.insert(turn.end(), {33, 34, 35});
  const std::vector<int32_t> expected = solo_tokens(turn, 5);

  Collector second;
  ASSERT_TRUE(scheduler->submit(greedy(turn, 5), second.callback()).ok());
  ASSERT_TRUE(second.wait());
  EXPECT_EQ(second.last().timings.n_cached, static_cast<int32_t>(kPrompt.size() + answer.size() - 1));
  EXPECT_EQ(second.tokens(), expected);
}

TEST(SchedulerTest, PrefixHeldByABusySlotIsCopied) {
  auto f = load(2, 128);
  auto scheduler = *Scheduler::create(*f->model, {});
  const std::vector<int32_t> system = iota_prompt(11, 20);
  Collector holder;
  std::mutex m;
  std::condition_variable cv;
  bool holder_decoding = false;
  holder.set_on_event([&](size_t n) {
    if (n == 1) {
      std::lock_guard lock(m);
      holder_decoding = true;
      cv.notify_all();
    }
  });
  ASSERT_TRUE(scheduler->submit(greedy(system, 40), holder.callback()).ok());
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return holder_decoding; }));
  }
  std::vector<int32_t> prompt = system;
  prompt.insert(prompt.end(), {2, 3, 4});
  const std::vector<int32_t> expected = solo_tokens(prompt, 5);
  Collector other;
  ASSERT_TRUE(scheduler->submit(greedy(prompt, 5), other.callback()).ok());
  ASSERT_TRUE(other.wait());
  ASSERT_TRUE(holder.wait());
  EXPECT_EQ(other.last().timings.n_cached, static_cast<int32_t>(system.size()));
  EXPECT_EQ(other.tokens(), expected);
}

TEST(SchedulerTest, CancelEndsARunningRequestAndFreesItsSlot) {
  auto f = load(1, 256);
  auto scheduler = *Scheduler::create(*f->model, {});
  Collector c;
  RequestId id = 0;
  std::atomic<bool> cancelled{false};
  c.set_on_event([&](size_t n) {
    if (n == 3 && !cancelled.exchange(true)) scheduler->cancel(id);  // from the callback: must not deadlock
  });
  auto submitted = scheduler->submit(greedy(kPrompt, -1), c.callback());
  ASSERT_TRUE(submitted.ok());
  id = *submitted;
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.last().finish, FinishReason::kCancelled);
  EXPECT_LE(c.tokens().size(), 4u);  // at most one step after the cancel
  EXPECT_EQ(scheduler->stats().slots_busy, 0);
  // The slot takes the next request.
  Collector next;
  ASSERT_TRUE(scheduler->submit(greedy(kPrompt, 2), next.callback()).ok());
  ASSERT_TRUE(next.wait());
  EXPECT_EQ(next.last().finish, FinishReason::kMaxTokens);
  scheduler->cancel(id);  // finished: ignored
  scheduler->cancel(12345);  // unknown: ignored
}

TEST(SchedulerTest, QueueBoundRefusesWithResourceExhausted) {
  auto f = load(1, 256);
  SchedulerConfig config;
  config.queue_size = 2;
  auto scheduler = *Scheduler::create(*f->model, config);
  std::vector<Collector> collectors(8);
  int accepted = 0, refused = 0;
  for (Collector& c : collectors) {
    auto r = scheduler->submit(greedy(kPrompt, 30), c.callback());
    if (r.ok()) {
      ++accepted;
    } else {
      EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted) << r.status().message();
      EXPECT_NE(r.status().message().find("--queue-size"), std::string::npos);
      ++refused;
    }
  }
  // One slot plus two waiting; the first may already have left the queue for the slot.
  EXPECT_GE(accepted, 3);
  EXPECT_LE(accepted, 4);
  EXPECT_EQ(accepted + refused, 8);
  for (int i = 0; i < accepted; ++i) {
    ASSERT_TRUE(collectors[i].wait());
    EXPECT_EQ(collectors[i].tokens().size(), 30u);
  }
}

TEST(SchedulerTest, CancelWhileQueuedGivesOneFinalEvent) {
  auto f = load(1, 256);
  auto scheduler = *Scheduler::create(*f->model, {});
  Collector running, queued;
  ASSERT_TRUE(scheduler->submit(greedy(kPrompt, 30), running.callback()).ok());
  auto id = scheduler->submit(greedy(kPrompt, 30), queued.callback());
  ASSERT_TRUE(id.ok());
  scheduler->cancel(*id);
  ASSERT_TRUE(queued.wait());
  EXPECT_EQ(queued.last().finish, FinishReason::kCancelled);
  EXPECT_EQ(queued.n_final(), 1u);
  ASSERT_TRUE(running.wait());
  EXPECT_EQ(running.tokens().size(), 30u);
}

TEST(SchedulerTest, GenerationStopsWhenTheSlotContextIsFull) {
  auto f = load(2, 2 * 16);  // 16 cells per slot
  auto scheduler = *Scheduler::create(*f->model, {});
  Collector c;
  ASSERT_TRUE(scheduler->submit(greedy(kPrompt, -1), c.callback()).ok());
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.last().finish, FinishReason::kContextFull);
  // Prompt and completion together fill the 16 cells: 7 + 9.
  EXPECT_EQ(c.tokens().size(), 9u);
}

TEST(SchedulerTest, EndTokenEndsTheGeneration) {
  const std::vector<int32_t> expected = solo_tokens(kPrompt, 6);
  auto f = load(1, 64);
  SchedulerConfig config;
  config.end_tokens = {expected[3]};
  auto scheduler = *Scheduler::create(*f->model, config);
  Collector c;
  ASSERT_TRUE(scheduler->submit(greedy(kPrompt, 6), c.callback()).ok());
  ASSERT_TRUE(c.wait());
  EXPECT_EQ(c.last().finish, FinishReason::kEndOfGeneration);
  const std::vector<int32_t> tokens = c.tokens();
  const auto first_end = std::find(expected.begin(), expected.end(), expected[3]);
  EXPECT_EQ(tokens, std::vector<int32_t>(expected.begin(), first_end + 1));
}

TEST(SchedulerTest, BadRequestsAreRefusedWithReasons) {
  auto f = load(2, 2 * 16);
  auto scheduler = *Scheduler::create(*f->model, {});
  Collector c;
  auto empty = scheduler->submit(greedy({}, 4), c.callback());
  EXPECT_EQ(empty.status().code(), ErrorCode::kInvalidArgument);
  auto too_long = scheduler->submit(greedy(iota_prompt(1, 16), 4), c.callback());  // no room for an answer
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("16 tokens"), std::string::npos) << too_long.status().message();
  EXPECT_NE(too_long.status().message().find("-c"), std::string::npos);
  auto bad_token = scheduler->submit(greedy({1, 96}, 4), c.callback());
  EXPECT_NE(bad_token.status().message().find("96"), std::string::npos);
  auto bad_max = scheduler->submit(greedy(kPrompt, 0), c.callback());
  EXPECT_EQ(bad_max.status().code(), ErrorCode::kInvalidArgument);
  GenerationRequest bad_sampling = greedy(kPrompt, 4);
  bad_sampling.sampling.top_p = 3.0f;
  EXPECT_FALSE(scheduler->submit(bad_sampling, c.callback()).ok());
}

TEST(SchedulerTest, UnhealthyServiceRefusesNewRequests) {
  auto f = load(1, 64);
  SchedulerConfig config;
  config.health_probe = [] { return HealthState{HealthState::Status::kDegraded, "worker 127.0.0.1:1 is gone"}; };
  auto scheduler = *Scheduler::create(*f->model, config);
  Collector c;
  auto r = scheduler->submit(greedy(kPrompt, 4), c.callback());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(r.status().message().find("worker 127.0.0.1:1"), std::string::npos);
}

TEST(SchedulerTest, ShutdownEndsOpenRequestsOnce) {
  auto f = load(1, 256);
  std::vector<Collector> collectors(3);
  {
    auto scheduler = *Scheduler::create(*f->model, {});
    for (Collector& c : collectors) ASSERT_TRUE(scheduler->submit(greedy(kPrompt, -1), c.callback()).ok());
  }
  for (Collector& c : collectors) {
    ASSERT_TRUE(c.wait(std::chrono::seconds(1)));
    EXPECT_EQ(c.n_final(), 1u);
    EXPECT_EQ(c.last().finish, FinishReason::kError);
    EXPECT_EQ(c.last().error.code(), ErrorCode::kUnavailable);
  }
}

}  // namespace
}  // namespace strata::engine

namespace strata::engine {
namespace {

TEST(SchedulerTest, LostCachesEndRunningRequestsAndForgetPrefixes) {
  auto f = load(2, 256);
  std::atomic<uint64_t> epoch{0};
  SchedulerConfig config;
  config.cache_epoch = [&] { return epoch.load(); };
  auto scheduler = *Scheduler::create(*f->model, config);
  Collector first;
  ASSERT_TRUE(scheduler->submit(greedy(kPrompt, 3), first.callback()).ok());
  ASSERT_TRUE(first.wait());

  Collector running;
  running.set_on_event([&](size_t n) {
    if (n == 2) epoch = 1;  // a worker restarted while this request runs
  });
  ASSERT_TRUE(scheduler->submit(greedy(iota_prompt(9, 12), -1), running.callback()).ok());
  ASSERT_TRUE(running.wait());
  EXPECT_EQ(running.last().finish, FinishReason::kError);
  EXPECT_EQ(running.last().error.code(), ErrorCode::kUnavailable);

  // The first prompt's cells are gone: nothing is reused, and the answer is still right.
  const std::vector<int32_t> expected = solo_tokens(kPrompt, 3);
  Collector again;
  ASSERT_TRUE(scheduler->submit(greedy(kPrompt, 3), again.callback()).ok());
  ASSERT_TRUE(again.wait());
  EXPECT_EQ(again.last().timings.n_cached, 0);
  EXPECT_EQ(again.tokens(), expected);
}

}  // namespace
}  // namespace strata::engine
