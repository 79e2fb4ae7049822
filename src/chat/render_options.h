// Options of template parsing and rendering: the safety limits and the clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>

namespace strata::chat {

namespace jinja {

struct RenderLimits {
  // Work units: one per expression, statement and loop iteration, one per element of every
  // list built or compared, one per 16 bytes of every string built and per 64 bytes read.
  uint64_t max_steps = 5'000'000;
  // Largest output and largest string value.
  size_t max_output_bytes = size_t{64} << 20;
  // Deepest runtime nesting of statements, expressions and macro calls.
  int max_depth = 400;
};

// Local wall-clock time for strftime_now(); injectable so renders can be reproduced.
using Clock = std::function<std::tm()>;
std::tm local_now();

}  // namespace jinja

struct TemplateOptions {
  size_t max_source_bytes = size_t{4} << 20;
  // Deepest nesting of blocks and expressions the parser accepts.
  int max_depth = 128;
};

struct RenderOptions {
  jinja::RenderLimits limits;
  jinja::Clock clock;  // empty: the local wall clock
};

}  // namespace strata::chat
