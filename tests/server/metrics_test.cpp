// Metrics: Prometheus text format, counters, cumulative histogram buckets, gauges.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>
#include <string>

#include "server/metrics.h"

namespace strata::server {
namespace {

// Sample lines by "name{labels}" (as written), checking the exposition format on the way.
std::map<std::string, double> parse_samples(const std::string& text) {
  static const std::regex kSample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})?) (\S+)$)");
  static const std::regex kComment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)");
  std::map<std::string, double> samples;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, kComment)) continue;
    EXPECT_TRUE(std::regex_match(line, m, kSample)) << "not a sample line: '" << line << "'";
    if (m.size() > 4) samples[m[1]] = m[4] == "+Inf" ? INFINITY : std::stod(m[4]);
  }
  EXPECT_EQ(text.back(), '\n');
  return samples;
}

TEST(Metrics, RenderParsesAndCounts) {
  Metrics m;
  m.count_request("/v1/chat/completions", 200);
  m.count_request("/v1/chat/completions", 200);
  m.count_request("/v1/chat/completions", 400);
  m.count_request("other", 404);
  m.add_prompt_tokens(12);
  m.add_generated_tokens(5);
  m.observe_time_to_first_token(0.03);
  m.observe_time_to_first_token(2.0);
  m.observe_inter_token_latency(0.004);
  engine::GeneratorStats stats;
  stats.slots_busy = 2;
  stats.slots_total = 4;
  stats.kv_cells_used = 300;
  stats.queue_length = 7;
  const std::string text = m.render(stats);
  const auto s = parse_samples(text);

  EXPECT_EQ(s.at(R"(strata_requests_total{endpoint="/v1/chat/completions",status="200"})"), 2);
  EXPECT_EQ(s.at(R"(strata_requests_total{endpoint="/v1/chat/completions",status="400"})"), 1);
  EXPECT_EQ(s.at(R"(strata_requests_total{endpoint="other",status="404"})"), 1);
  EXPECT_EQ(s.at("strata_tokens_prompt_total"), 12);
  EXPECT_EQ(s.at("strata_tokens_generated_total"), 5);
  EXPECT_EQ(s.at("strata_slots_busy"), 2);
  EXPECT_EQ(s.at("strata_kv_cells_used"), 300);
  EXPECT_EQ(s.at("strata_queue_length"), 7);

  // Buckets are cumulative and end at +Inf = count.
  EXPECT_EQ(s.at(R"(strata_time_to_first_token_seconds_bucket{le="0.01"})"), 0);
  EXPECT_EQ(s.at(R"(strata_time_to_first_token_seconds_bucket{le="0.05"})"), 1);
  EXPECT_EQ(s.at(R"(strata_time_to_first_token_seconds_bucket{le="2.5"})"), 2);
  EXPECT_EQ(s.at(R"(strata_time_to_first_token_seconds_bucket{le="+Inf"})"), 2);
  EXPECT_EQ(s.at("strata_time_to_first_token_seconds_count"), 2);
  EXPECT_NEAR(s.at("strata_time_to_first_token_seconds_sum"), 2.03, 1e-9);
  EXPECT_EQ(s.at("strata_inter_token_latency_seconds_count"), 1);
  EXPECT_NE(text.find("# TYPE strata_time_to_first_token_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE strata_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE strata_slots_busy gauge\n"), std::string::npos);
}

TEST(Histogram, ValueOnABoundCountsInThatBucket) {
  Histogram h({1.0, 2.0});
  h.observe(1.0);
  h.observe(2.5);
  std::string out;
  h.render(out, "x");
  EXPECT_EQ(out, "x_bucket{le=\"1\"} 1\nx_bucket{le=\"2\"} 1\nx_bucket{le=\"+Inf\"} 2\nx_sum 3.5\nx_count 2\n");
}

}  // namespace
}  // namespace strata::server
