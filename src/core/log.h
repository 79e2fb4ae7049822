// Logging setup: spdlog with a level and a text or JSON-lines format, to stderr.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

#include "core/status.h"

namespace strata {

enum class LogFormat { kText, kJson };

// Accepts trace, debug, info, warn, error, off (case-insensitive).
Result<spdlog::level::level_enum> parse_log_level(std::string_view name);
Result<LogFormat> parse_log_format(std::string_view name);

// Replaces the default logger. JSON lines carry ts (ISO-8601 UTC), level and msg.
void setup_logging(spdlog::level::level_enum level, LogFormat format);

}  // namespace strata
