// Lookup of the builtin filters, tests, methods and globals by name.
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"

namespace strata::chat::jinja {

// Null when there is no such filter / test.
FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);

// Methods of str, list and dict values (`s.split(',')`, `d.items()`). has_method says whether
// `name` is one for this value (Jinja prefers a method to a dict key for `d.name`).
bool has_method(const Value& object, std::string_view name);
Value call_method(Interpreter& in, const Value& object, std::string_view name, CallArgs& args);
// The value of `object.name` for a method: a callable bound to the object.
Value bound_method(const Value& object, std::string_view name);

// Attributes of `loop` inside a for loop; undefined when unknown.
Value loop_attribute(Interpreter& in, const Value& loop, std::string_view name);

// range, namespace, dict, raise_exception, strftime_now, ...
std::vector<std::pair<std::string, Value>> make_globals();

}  // namespace strata::chat::jinja
