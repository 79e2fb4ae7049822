// Builtin tests (`x is defined`, `n is divisibleby 3`, ...), Jinja 3.1 semantics.
#include <cmath>
#include <utility>

#include "chat/jinja_args.h"
#include "chat/jinja_builtins.h"
#include "chat/jinja_error.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_text.h"

namespace strata::chat::jinja {

namespace {

using Args = CallArgs;

bool no_args(std::string_view name, const Args& args) {
  BoundArgs a(name, args, {});
  return true;
}

const Value& one_arg(std::string_view name, const Args& args) {
  if (args.positional.size() + args.keyword.size() != 1 || !args.keyword.empty()) {
    if (args.positional.empty() && args.keyword.size() == 1) return args.keyword[0].second;
    fail(ErrorType::kType, "test '{}' takes exactly one argument ({} given)", name,
         args.positional.size() + args.keyword.size());
  }
  return args.positional[0];
}

bool t_defined(Interpreter&, const Value& v, Args& a) { return no_args("defined", a) && !v.is_undefined(); }
bool t_undefined(Interpreter&, const Value& v, Args& a) { return no_args("undefined", a) && v.is_undefined(); }
bool t_none(Interpreter&, const Value& v, Args& a) { return no_args("none", a) && v.is_none(); }
bool t_boolean(Interpreter&, const Value& v, Args& a) { return no_args("boolean", a) && v.is_bool(); }
bool t_true(Interpreter&, const Value& v, Args& a) { return no_args("true", a) && v.is_bool() && v.as_bool(); }
bool t_false(Interpreter&, const Value& v, Args& a) { return no_args("false", a) && v.is_bool() && !v.as_bool(); }
bool t_string(Interpreter&, const Value& v, Args& a) { return no_args("string", a) && v.is_string(); }
bool t_mapping(Interpreter&, const Value& v, Args& a) { return no_args("mapping", a) && v.is_dict(); }
bool t_number(Interpreter&, const Value& v, Args& a) { return no_args("number", a) && v.is_number(); }
bool t_integer(Interpreter&, const Value& v, Args& a) { return no_args("integer", a) && v.is_int(); }
bool t_float(Interpreter&, const Value& v, Args& a) { return no_args("float", a) && v.is_float(); }
bool t_callable(Interpreter&, const Value& v, Args& a) { return no_args("callable", a) && v.is_callable(); }

bool t_iterable(Interpreter&, const Value& v, Args& a) {
  no_args("iterable", a);
  return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
}

bool t_sequence(Interpreter&, const Value& v, Args& a) {
  no_args("sequence", a);
  return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
}

bool t_lower(Interpreter&, const Value& v, Args& a) {
  no_args("lower", a);
  return text::is_lower(to_str(v));
}

bool t_upper(Interpreter&, const Value& v, Args& a) {
  no_args("upper", a);
  return text::is_upper(to_str(v));
}

bool t_odd(Interpreter& in, const Value& v, Args& a) {
  no_args("odd", a);
  return equal(binary_op(in, BinaryOp::kMod, v, Value::integer(2)), Value::integer(1));
}

bool t_even(Interpreter& in, const Value& v, Args& a) {
  no_args("even", a);
  return equal(binary_op(in, BinaryOp::kMod, v, Value::integer(2)), Value::integer(0));
}

bool t_divisibleby(Interpreter& in, const Value& v, Args& a) {
  BoundArgs b("divisibleby", a, {"num"});
  return equal(binary_op(in, BinaryOp::kMod, v, b.get(0)), Value::integer(0));
}

bool t_eq(Interpreter&, const Value& v, Args& a) { return equal(v, one_arg("eq", a)); }
bool t_ne(Interpreter&, const Value& v, Args& a) { return !equal(v, one_arg("ne", a)); }
bool t_lt(Interpreter&, const Value& v, Args& a) { return compare(v, one_arg("lt", a), "<") < 0; }
bool t_le(Interpreter&, const Value& v, Args& a) { return compare(v, one_arg("le", a), "<=") <= 0; }
bool t_gt(Interpreter&, const Value& v, Args& a) { return compare(v, one_arg("gt", a), ">") > 0; }
bool t_ge(Interpreter&, const Value& v, Args& a) { return compare(v, one_arg("ge", a), ">=") >= 0; }
bool t_in(Interpreter& in, const Value& v, Args& a) { return in.contains(one_arg("in", a), v); }

// Python's `is`: identity for containers; scalars compare by value (small ints and interned
// strings are identical in CPython too).
bool t_sameas(Interpreter&, const Value& v, Args& a) {
  const Value& other = one_arg("sameas", a);
  if (v.kind() != other.kind()) return false;
  switch (v.kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return true;
    case Kind::kBool: return v.as_bool() == other.as_bool();
    case Kind::kInt: return v.as_int() == other.as_int();
    case Kind::kFloat: return v.as_float() == other.as_float();
    case Kind::kString: return v.identity() == other.identity() || v.as_string() == other.as_string();
    default: return v.identity() == other.identity();
  }
}

bool t_filter(Interpreter&, const Value& v, Args& a) {
  no_args("filter", a);
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}

bool t_test(Interpreter&, const Value& v, Args& a) {
  no_args("test", a);
  return v.is_string() && find_test(v.as_string()) != nullptr;
}

bool t_escaped(Interpreter&, const Value&, Args& a) { return no_args("escaped", a) && false; }

}  // namespace

TestFn find_test(std::string_view name) {
  static constexpr std::pair<std::string_view, TestFn> kTests[] = {
      {"!=", t_ne},
      {"<", t_lt},
      {"<=", t_le},
      {"==", t_eq},
      {">", t_gt},
      {">=", t_ge},
      {"boolean", t_boolean},
      {"callable", t_callable},
      {"defined", t_defined},
      {"divisibleby", t_divisibleby},
      {"eq", t_eq},
      {"equalto", t_eq},
      {"escaped", t_escaped},
      {"even", t_even},
      {"false", t_false},
      {"filter", t_filter},
      {"float", t_float},
      {"ge", t_ge},
      {"greaterthan", t_gt},
      {"gt", t_gt},
      {"in", t_in},
      {"integer", t_integer},
      {"iterable", t_iterable},
      {"le", t_le},
      {"lessthan", t_lt},
      {"lower", t_lower},
      {"lt", t_lt},
      {"mapping", t_mapping},
      {"ne", t_ne},
      {"none", t_none},
      {"number", t_number},
      {"odd", t_odd},
      {"sameas", t_sameas},
      {"sequence", t_sequence},
      {"string", t_string},
      {"test", t_test},
      {"true", t_true},
      {"undefined", t_undefined},
      {"upper", t_upper},
  };
  for (const auto& [n, fn] : kTests) {
    if (n == name) return fn;
  }
  return nullptr;
}

}  // namespace strata::chat::jinja
