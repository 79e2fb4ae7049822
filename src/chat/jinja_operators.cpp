// Arithmetic operators with Python semantics: int/float promotion, floor division and modulo
// signs, str and list concatenation and repetition, and Python's TypeError messages.
#include <cmath>

#include "chat/jinja_error.h"
#include "chat/jinja_format.h"
#include "chat/jinja_interpreter.h"

namespace strata::chat::jinja {

namespace {

std::string_view symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd: return "+";
    case BinaryOp::kSub: return "-";
    case BinaryOp::kMul: return "*";
    case BinaryOp::kDiv: return "/";
    case BinaryOp::kFloorDiv: return "//";
    case BinaryOp::kMod: return "%";
    case BinaryOp::kPow: return "** or pow()";
  }
  return "?";
}

[[noreturn]] void unsupported(BinaryOp op, const Value& a, const Value& b) {
  fail(ErrorType::kType, "unsupported operand type(s) for {}: '{}' and '{}'", symbol(op), type_name(a),
       type_name(b));
}

[[noreturn]] void overflow(BinaryOp op) {
  fail(ErrorType::kValue, "integer overflow in '{}' (results beyond 64 bits are not supported)", symbol(op));
}

Value repeat(Interpreter& in, const Value& seq, int64_t times) {
  if (times <= 0) {
    if (seq.is_string()) return Value::string(std::string());
    return seq.is_tuple() ? in.make_tuple({}) : in.make_list({});
  }
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && static_cast<uint64_t>(times) > in.limits().max_output_bytes / s.size()) {
      fail(ErrorType::kLimit, "string repetition of {} bytes x {} exceeds the {} byte limit", s.size(), times,
           in.limits().max_output_bytes);
    }
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += s;
    return in.make_string(std::move(out));
  }
  const auto& items = seq.as_list().items;
  if (!items.empty() && static_cast<uint64_t>(times) > in.limits().max_steps / items.size()) {
    fail(ErrorType::kLimit, "list repetition of {} items x {} exceeds the step limit", items.size(), times);
  }
  in.charge(items.size() * static_cast<uint64_t>(times));
  std::vector<Value> out;
  out.reserve(items.size() * static_cast<size_t>(times));
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.is_tuple() ? in.make_tuple(std::move(out)) : in.make_list(std::move(out));
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t floor_mod(int64_t a, int64_t b) {
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

double float_mod(double a, double b) {
  double r = std::fmod(a, b);
  if (r != 0.0 && ((r < 0) != (b < 0))) r += b;
  if (r == 0.0) r = std::copysign(0.0, b);
  return r;
}

Value int_pow(int64_t base, int64_t exp) {
  int64_t result = 1;
  int64_t b = base;
  int64_t e = exp;
  while (e > 0) {
    if (e & 1) {
      if (__builtin_mul_overflow(result, b, &result)) overflow(BinaryOp::kPow);
    }
    e >>= 1;
    if (e > 0 && __builtin_mul_overflow(b, b, &b)) overflow(BinaryOp::kPow);
  }
  return Value::integer(result);
}

Value numeric(BinaryOp op, const Value& a, const Value& b) {
  const bool use_float = a.is_float() || b.is_float();
  if (!use_float) {
    const int64_t x = a.as_int();
    const int64_t y = b.as_int();
    int64_t r = 0;
    switch (op) {
      case BinaryOp::kAdd:
        if (__builtin_add_overflow(x, y, &r)) overflow(op);
        return Value::integer(r);
      case BinaryOp::kSub:
        if (__builtin_sub_overflow(x, y, &r)) overflow(op);
        return Value::integer(r);
      case BinaryOp::kMul:
        if (__builtin_mul_overflow(x, y, &r)) overflow(op);
        return Value::integer(r);
      case BinaryOp::kDiv:
        if (y == 0) fail(ErrorType::kZeroDivision, "division by zero");
        return Value::floating(static_cast<double>(x) / static_cast<double>(y));
      case BinaryOp::kFloorDiv:
        if (y == 0) fail(ErrorType::kZeroDivision, "integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) overflow(op);
        return Value::integer(floor_div(x, y));
      case BinaryOp::kMod:
        if (y == 0) fail(ErrorType::kZeroDivision, "integer modulo by zero");
        if (y == -1) return Value::integer(0);
        return Value::integer(floor_mod(x, y));
      case BinaryOp::kPow:
        if (y >= 0) return int_pow(x, y);
        if (x == 0) fail(ErrorType::kZeroDivision, "0.0 cannot be raised to a negative power");
        return Value::floating(std::pow(static_cast<double>(x), static_cast<double>(y)));
    }
  }
  const double x = a.as_float();
  const double y = b.as_float();
  switch (op) {
    case BinaryOp::kAdd: return Value::floating(x + y);
    case BinaryOp::kSub: return Value::floating(x - y);
    case BinaryOp::kMul: return Value::floating(x * y);
    case BinaryOp::kDiv:
      if (y == 0.0) fail(ErrorType::kZeroDivision, "float division by zero");
      return Value::floating(x / y);
    case BinaryOp::kFloorDiv:
      if (y == 0.0) fail(ErrorType::kZeroDivision, "float floor division by zero");
      return Value::floating(std::floor(x / y));
    case BinaryOp::kMod:
      if (y == 0.0) fail(ErrorType::kZeroDivision, "float modulo");
      return Value::floating(float_mod(x, y));
    case BinaryOp::kPow:
      if (x == 0.0 && y < 0) fail(ErrorType::kZeroDivision, "0.0 cannot be raised to a negative power");
      return Value::floating(std::pow(x, y));
  }
  return Value();
}

}  // namespace

Value binary_op(Interpreter& in, BinaryOp op, const Value& a, const Value& b) {
  in.charge_read(a);
  in.charge_read(b);
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) return numeric(op, a, b);
  switch (op) {
    case BinaryOp::kAdd:
      if (a.is_string()) {
        if (!b.is_string()) {
          fail(ErrorType::kType, "can only concatenate str (not \"{}\") to str", type_name(b));
        }
        std::string out;
        out.reserve(a.as_string().size() + b.as_string().size());
        out += a.as_string();
        out += b.as_string();
        return in.make_string(std::move(out));
      }
      if (a.is_list() || a.is_tuple()) {
        if (b.kind() != a.kind()) {
          fail(ErrorType::kType, "can only concatenate {} (not \"{}\") to {}", type_name(a), type_name(b),
               type_name(a));
        }
        std::vector<Value> items = a.as_list().items;
        items.insert(items.end(), b.as_list().items.begin(), b.as_list().items.end());
        return a.is_tuple() ? in.make_tuple(std::move(items)) : in.make_list(std::move(items));
      }
      unsupported(op, a, b);
    case BinaryOp::kMul:
      if ((a.is_string() || a.is_sequence()) && (b.is_int() || b.is_bool())) return repeat(in, a, b.as_int());
      if ((b.is_string() || b.is_sequence()) && (a.is_int() || a.is_bool())) return repeat(in, b, a.as_int());
      if ((a.is_string() || a.is_sequence()) || (b.is_string() || b.is_sequence())) {
        const Value& other = (a.is_string() || a.is_sequence()) ? b : a;
        if (other.is_float() || other.is_string() || other.is_sequence() || other.is_dict() || other.is_none()) {
          fail(ErrorType::kType, "can't multiply sequence by non-int of type '{}'", type_name(other));
        }
      }
      unsupported(op, a, b);
    case BinaryOp::kMod:
      if (a.is_string()) return in.make_string(percent_format(a.as_string(), b));
      unsupported(op, a, b);
    default: unsupported(op, a, b);
  }
}

}  // namespace strata::chat::jinja
