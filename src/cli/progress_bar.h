// A one-line progress bar on stderr for long writes (synth, quantize); silent when not a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace strata::cli {

class ProgressBar {
 public:
  // Draws only when stderr is a terminal, so logs and pipes stay clean.
  explicit ProgressBar(std::string label);
  ProgressBar(std::string label, bool enabled);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Redraws at most ~10 times a second, and always at the end.
  void update(uint64_t done, uint64_t total);
  // Ends the line (once).
  void finish();

  // The bar as text, without the leading carriage return: for tests.
  static std::string render(std::string_view label, uint64_t done, uint64_t total, double seconds, size_t width);

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace strata::cli
