// Python number and string formatting: repr(float), the % operator and str.format().
#pragma once

#include <string>
#include <string_view>

#include "chat/jinja_value.h"

namespace strata::chat::jinja {

// Python repr(float): shortest round-trip digits, exponent form outside 1e-4 <= |x| < 1e16.
std::string float_repr(double d);

// `format % args` (printf-style): `args` is a tuple (positional), a dict (%(name)s) or one
// value. Raises TypeError/ValueError with Python's messages.
std::string percent_format(std::string_view format, const Value& args);

// `format.format(*args, **kwargs)`: {}, {0}, {name}, conversions !s/!r and format specs.
std::string brace_format(std::string_view format, const CallArgs& args);

// format(value, spec) for one value, as the builtin format() does.
std::string format_with_spec(const Value& value, std::string_view spec);

}  // namespace strata::chat::jinja
