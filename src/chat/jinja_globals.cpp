// Global functions every template sees: range, namespace, dict, raise_exception (Hugging
// Face's) and strftime_now (Hugging Face's, with an injectable clock).
#include <ctime>

#include "chat/jinja_args.h"
#include "chat/jinja_builtins.h"
#include "chat/jinja_error.h"
#include "chat/jinja_interpreter.h"

namespace strata::chat::jinja {

namespace {

using BuiltinFn = Value (*)(Interpreter& in, CallArgs& args);

class BuiltinFunction : public Callable {
 public:
  BuiltinFunction(std::string name, BuiltinFn fn) : name_(std::move(name)), fn_(fn) {}
  Value call(Interpreter& in, CallArgs& args) override { return fn_(in, args); }
  std::string repr() const override { return fmt::format("<built-in function {}>", name_); }

 private:
  std::string name_;
  BuiltinFn fn_;
};

Value g_range(Interpreter& in, CallArgs& args) {
  if (!args.keyword.empty()) fail(ErrorType::kType, "range() takes no keyword arguments");
  const auto& p = args.positional;
  if (p.empty() || p.size() > 3) fail(ErrorType::kType, "range expected 1 to 3 arguments, got {}", p.size());
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  if (p.size() == 1) {
    stop = to_int_arg(p[0], "range", "stop");
  } else {
    start = to_int_arg(p[0], "range", "start");
    stop = to_int_arg(p[1], "range", "stop");
    if (p.size() == 3) step = to_int_arg(p[2], "range", "step");
  }
  if (step == 0) fail(ErrorType::kValue, "range() arg 3 must not be zero");
  // Count in 128 bits so extreme bounds cannot overflow.
  __int128 count = 0;
  if (step > 0 && start < stop) count = ((__int128)stop - start + step - 1) / step;
  if (step < 0 && start > stop) count = ((__int128)start - stop - step - 1) / (-(__int128)step);
  if (count > static_cast<__int128>(in.limits().max_steps)) {
    fail(ErrorType::kLimit, "range() of {} items exceeds the step limit ({})", static_cast<long long>(std::min<__int128>(count, INT64_MAX)),
         in.limits().max_steps);
  }
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(count));
  int64_t v = start;
  for (__int128 i = 0; i < count; ++i, v += (i < count ? step : 0)) items.push_back(Value::integer(v));
  return in.make_list(std::move(items));
}

void fill_mapping(Interpreter& in, DictObject& dict, CallArgs& args, std::string_view function) {
  if (args.positional.size() > 1) {
    fail(ErrorType::kType, "{} expected at most 1 argument, got {}", function, args.positional.size());
  }
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict() || source.is_namespace()) {
      for (const auto& [k, v] : source.as_dict().entries()) dict.set(k, v);
    } else {
      for (const Value& pair : in.iterate(source)) {
        std::vector<Value> kv = in.iterate(pair);
        if (kv.size() != 2) {
          fail(ErrorType::kValue, "dictionary update sequence element has length {}; 2 is required", kv.size());
        }
        dict.set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [k, v] : args.keyword) dict.set(Value::string(k), v);
}

Value g_namespace(Interpreter& in, CallArgs& args) {
  Value ns = in.make_namespace();
  fill_mapping(in, ns.as_dict(), args, "namespace");
  return ns;
}

Value g_dict(Interpreter& in, CallArgs& args) {
  Value d = in.make_dict();
  fill_mapping(in, d.as_dict(), args, "dict");
  return d;
}

Value g_raise_exception(Interpreter& in, CallArgs& args) {
  BoundArgs a("raise_exception", args, {"message"});
  throw Error(ErrorType::kRaised, to_str(a.get(0)));
}

Value g_strftime_now(Interpreter& in, CallArgs& args) {
  BoundArgs a("strftime_now", args, {"format"});
  if (!a.get(0).is_string()) fail(ErrorType::kType, "strftime() argument 1 must be str, not {}", type_name(a.get(0)));
  const std::string& format = a.get(0).as_string();
  if (format.find('\0') != std::string::npos) fail(ErrorType::kValue, "embedded null character");
  const std::tm now = in.now();
  // strftime reports "did not fit" and "empty result" the same way; grow to a bound.
  const size_t limit = std::min<size_t>(in.limits().max_output_bytes, 64 * format.size() + 256);
  for (size_t size = 256;; size *= 2) {
    std::string buffer(std::min(size, limit), '\0');
    const size_t n = std::strftime(buffer.data(), buffer.size(), format.c_str(), &now);
    if (n > 0 || format.empty()) {
      buffer.resize(n);
      return in.make_string(std::move(buffer));
    }
    if (size >= limit) return Value::string(std::string());
  }
}

}  // namespace

std::vector<std::pair<std::string, Value>> make_globals() {
  std::vector<std::pair<std::string, Value>> globals;
  auto add = [&](const char* name, BuiltinFn fn) {
    globals.emplace_back(name, Value::callable(std::make_shared<BuiltinFunction>(name, fn)));
  };
  add("range", g_range);
  add("namespace", g_namespace);
  add("dict", g_dict);
  add("raise_exception", g_raise_exception);
  add("strftime_now", g_strftime_now);
  return globals;
}

}  // namespace strata::chat::jinja
