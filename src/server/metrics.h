// Metrics: the server's counters and latency histograms, rendered with the generator's gauges
// in the Prometheus text exposition format for GET /metrics.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/generation_service.h"

namespace strata::server {

// A cumulative histogram with fixed upper bounds (seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // "<name>_bucket{le=...}", "<name>_sum" and "<name>_count" lines.
  void render(std::string& out, std::string_view name) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last one is +Inf
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();

  // `endpoint` is a route pattern (a bounded set of label values), e.g. "/v1/chat/completions".
  void count_request(std::string_view endpoint, int http_status);
  void add_prompt_tokens(int64_t n);
  void add_generated_tokens(int64_t n);
  void observe_time_to_first_token(double seconds);
  void observe_inter_token_latency(double seconds);

  std::string render(const engine::GeneratorStats& stats) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0;
  uint64_t generated_tokens_ = 0;
  Histogram time_to_first_token_;
  Histogram inter_token_latency_;
};

}  // namespace strata::server
