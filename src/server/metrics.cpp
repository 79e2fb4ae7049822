// Prometheus text format for the server's metrics (see metrics.h).
#include "server/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace strata::server {

namespace {

// Prometheus renders numbers in Go's float format; integral values print without a fraction.
std::string number(double value) {
  if (std::fabs(value) < 1e15 && value == std::floor(value)) return fmt::format("{}", static_cast<int64_t>(value));
  return fmt::format("{}", value);
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void gauge(std::string& out, std::string_view name, std::string_view help, int64_t value) {
  header(out, name, "gauge", help);
  out += fmt::format("{} {}\n", name, value);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  if (!(value >= 0.0)) value = 0.0;  // clocks do not run backwards, but NaN must not poison the sum
  const size_t bucket = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, std::string_view name) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, number(bounds_[i]), cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, count_);
  out += fmt::format("{}_sum {}\n", name, number(sum_));
  out += fmt::format("{}_count {}\n", name, count_);
}

Metrics::Metrics()
    : time_to_first_token_({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      inter_token_latency_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}) {}

void Metrics::count_request(std::string_view endpoint, int http_status) {
  std::lock_guard lock(mutex_);
  ++requests_[{std::string(endpoint), http_status}];
}

void Metrics::add_prompt_tokens(int64_t n) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += static_cast<uint64_t>(std::max<int64_t>(n, 0));
}

void Metrics::add_generated_tokens(int64_t n) {
  std::lock_guard lock(mutex_);
  generated_tokens_ += static_cast<uint64_t>(std::max<int64_t>(n, 0));
}

void Metrics::observe_time_to_first_token(double seconds) {
  std::lock_guard lock(mutex_);
  time_to_first_token_.observe(seconds);
}

void Metrics::observe_inter_token_latency(double seconds) {
  std::lock_guard lock(mutex_);
  inter_token_latency_.observe(seconds);
}

std::string Metrics::render(const engine::GeneratorStats& stats) const {
  std::string out;
  std::lock_guard lock(mutex_);
  header(out, "strata_requests_total", "counter", "HTTP requests answered, by route and status.");
  for (const auto& [key, count] : requests_) {
    out += fmt::format("strata_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, count);
  }
  header(out, "strata_tokens_prompt_total", "counter", "Prompt tokens of accepted generation requests.");
  out += fmt::format("strata_tokens_prompt_total {}\n", prompt_tokens_);
  header(out, "strata_tokens_generated_total", "counter", "Tokens generated.");
  out += fmt::format("strata_tokens_generated_total {}\n", generated_tokens_);
  header(out, "strata_time_to_first_token_seconds", "histogram",
         "Time from accepting a generation request to its first token.");
  time_to_first_token_.render(out, "strata_time_to_first_token_seconds");
  header(out, "strata_inter_token_latency_seconds", "histogram", "Time between consecutive tokens of one request.");
  inter_token_latency_.render(out, "strata_inter_token_latency_seconds");
  gauge(out, "strata_slots_busy", "Slots generating now.", stats.slots_busy);
  gauge(out, "strata_slots_total", "Slots (-np).", stats.slots_total);
  gauge(out, "strata_kv_cells_used", "KV cache cells in use.", stats.kv_cells_used);
  gauge(out, "strata_kv_cells_total", "KV cache cells.", stats.kv_cells_total);
  gauge(out, "strata_queue_length", "Accepted requests waiting for a slot.", stats.queue_length);
  gauge(out, "strata_queue_capacity", "Most requests that may wait (--queue-size).", stats.queue_capacity);
  return out;
}

}  // namespace strata::server
