// ProgressBar: "label [#####.....]  45%  1.20/2.60 GB  350 MB/s  ETA 4s" redrawn with \r.
#include "cli/progress_bar.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace strata::cli {

ProgressBar::ProgressBar(std::string label) : ProgressBar(std::move(label), ::isatty(STDERR_FILENO) == 1) {}

ProgressBar::ProgressBar(std::string label, bool enabled)
    : label_(std::move(label)), enabled_(enabled), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

std::string ProgressBar::render(std::string_view label, uint64_t done, uint64_t total, double seconds, size_t width) {
  const double fraction = total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  const auto filled = static_cast<size_t>(fraction * static_cast<double>(width));
  std::string bar(filled, '#');
  bar.append(width - filled, '.');
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
  std::string eta;
  if (rate > 0 && done < total) eta = fmt::format("  ETA {:.0f}s", static_cast<double>(total - done) / rate);
  return fmt::format("{} [{}] {:3.0f}%  {:.2f}/{:.2f} GB  {:.0f} MB/s{}", label, bar, fraction * 100.0, done / 1e9,
                     total / 1e9, rate / 1e6, eta);
}

void ProgressBar::update(uint64_t done, uint64_t total) {
  if (!enabled_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && done < total && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  drawn_ = true;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  // Trailing spaces wipe what a longer previous line (e.g. its ETA) left behind.
  std::fprintf(stderr, "\r%s   ", render(label_, done, total, seconds, 30).c_str());
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_ && drawn_) std::fputc('\n', stderr);
}

}  // namespace strata::cli
