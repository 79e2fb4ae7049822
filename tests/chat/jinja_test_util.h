// Helpers for the template engine tests: render a snippet with fixed time and variables.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <ctime>
#include <string>
#include <string_view>

#include "chat/jinja_template.h"

namespace strata::chat::testing {

using Json = nlohmann::ordered_json;

// 2024-07-26 00:00:00, the instant the reference renders use for strftime_now().
inline std::tm fixture_time() {
  std::tm tm{};
  tm.tm_year = 2024 - 1900;
  tm.tm_mon = 6;
  tm.tm_mday = 26;
  time_t t = timegm(&tm);
  gmtime_r(&t, &tm);  // fills tm_wday and tm_yday
  return tm;
}

inline RenderOptions test_options() {
  RenderOptions options;
  options.clock = fixture_time;
  return options;
}

// The render, or "<error: MESSAGE>" (so EXPECT_EQ shows what went wrong).
inline std::string render(std::string_view source, const Json& variables = Json::object(),
                          const RenderOptions& options = test_options()) {
  auto parsed = JinjaTemplate::parse(source);
  if (!parsed.ok()) return "<error: " + parsed.status().message() + ">";
  auto out = parsed->render(variables, options);
  if (!out.ok()) return "<error: " + out.status().message() + ">";
  return *out;
}

// The error message of a failing parse or render ("" when it succeeds).
inline std::string render_error(std::string_view source, const Json& variables = Json::object(),
                                const RenderOptions& options = test_options()) {
  auto parsed = JinjaTemplate::parse(source);
  if (!parsed.ok()) return parsed.status().message();
  auto out = parsed->render(variables, options);
  return out.ok() ? std::string() : out.status().message();
}

inline Status render_status(std::string_view source, const Json& variables = Json::object(),
                            const RenderOptions& options = test_options()) {
  auto parsed = JinjaTemplate::parse(source);
  if (!parsed.ok()) return parsed.status();
  auto out = parsed->render(variables, options);
  return out.ok() ? Status() : out.status();
}

}  // namespace strata::chat::testing
