// Interpreter operations with Python's semantics on values: the step and size accounting,
// making containers, iteration, attribute and item lookup, membership and slicing.
#include <cmath>

#include "chat/jinja_builtins.h"
#include "chat/jinja_error.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_text.h"

namespace strata::chat::jinja {

void Interpreter::step() {
  steps_ += take_value_work();
  if (++steps_ > limits_.max_steps) {
    fail(ErrorType::kLimit, "template exceeded {} evaluation steps (a loop that does not end?)",
         limits_.max_steps);
  }
}

void Interpreter::charge(uint64_t steps) {
  steps_ += steps + take_value_work();
  if (steps_ > limits_.max_steps) {
    fail(ErrorType::kLimit, "template exceeded {} evaluation steps (a loop that does not end?)",
         limits_.max_steps);
  }
}

Value Interpreter::make_string(std::string s) {
  if (s.size() > limits_.max_output_bytes) {
    fail(ErrorType::kLimit, "template built a string of {} bytes; the limit is {}", s.size(),
         limits_.max_output_bytes);
  }
  charge(s.size() / 16);
  return Value::string(std::move(s));
}

Value Interpreter::make_list(std::vector<Value> items) {
  charge(items.size());
  auto list = std::make_shared<ListObject>();
  list->items = std::move(items);
  lists_.push_back(list);
  return Value::list(std::move(list));
}

Value Interpreter::make_tuple(std::vector<Value> items) {
  charge(items.size());
  auto list = std::make_shared<ListObject>();
  list->items = std::move(items);
  lists_.push_back(list);
  return Value::tuple(std::move(list));
}

Value Interpreter::make_dict() {
  step();
  auto dict = std::make_shared<DictObject>();
  dicts_.push_back(dict);
  return Value::dict(std::move(dict));
}

Value Interpreter::make_namespace() {
  step();
  auto dict = std::make_shared<DictObject>();
  dicts_.push_back(dict);
  return Value::name_space(std::move(dict));
}

std::vector<Value> Interpreter::iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::kUndefined: return {};
    case Kind::kList:
    case Kind::kTuple:
      charge(v.as_list().items.size());
      return v.as_list().items;
    case Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.as_dict().size());
      for (const auto& [k, value] : v.as_dict().entries()) keys.push_back(k);
      charge(keys.size());
      return keys;
    }
    case Kind::kString: {
      const std::string& s = v.as_string();
      std::vector<Value> chars;
      size_t pos = 0;
      while (pos < s.size()) {
        const size_t start = pos;
        text::decode(s, pos);
        chars.push_back(Value::string(s.substr(start, pos - start)));
      }
      charge(chars.size());
      return chars;
    }
    default: fail(ErrorType::kType, "'{}' object is not iterable", type_name(v));
  }
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_callable()) return callee.as_callable().call(*this, args);
  if (callee.is_undefined()) fail_undefined(callee);
  fail(ErrorType::kType, "'{}' object is not callable", type_name(callee));
}

Value Interpreter::get_attr(const Value& object, std::string_view name) {
  return get_attr(object, name, nullptr);
}

Value Interpreter::get_attr(const Value& object, std::string_view name,
                            const std::shared_ptr<const std::string>& shared_name) {
  switch (object.kind()) {
    case Kind::kUndefined: fail_undefined(object);
    case Kind::kDict:
      if (has_method(object, name)) return bound_method(object, name);
      if (const Value* v = object.as_dict().find(name)) return *v;
      break;
    case Kind::kNamespace:
      if (const Value* v = object.as_dict().find(name)) return *v;
      break;
    case Kind::kLoop: return loop_attribute(*this, object, name);
    default:
      if (has_method(object, name)) return bound_method(object, name);
  }
  return Value::undefined_attribute(object, shared_name ? shared_name : std::make_shared<const std::string>(name));
}

Value Interpreter::get_item(const Value& object, const Value& key) {
  charge_read(object);
  charge_read(key);
  switch (object.kind()) {
    case Kind::kUndefined: fail_undefined(object);
    case Kind::kDict:
      if (key.is_list() || key.is_dict()) break;
      if (const Value* v = object.as_dict().find(key)) return *v;
      if (key.is_string() && has_method(object, key.as_string())) return bound_method(object, key.as_string());
      break;
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kString:
      if (key.is_int() || key.is_bool()) {
        int64_t i = key.as_int();
        if (object.is_string()) {
          const std::string& s = object.as_string();
          if (text::is_ascii(s)) {
            const auto n = static_cast<int64_t>(s.size());
            if (i < 0) i += n;
            if (i >= 0 && i < n) return Value::string(std::string(1, s[static_cast<size_t>(i)]));
          } else {
            const std::vector<size_t> offsets = text::char_offsets(s);
            const auto n = static_cast<int64_t>(offsets.size()) - 1;
            if (i < 0) i += n;
            if (i >= 0 && i < n) {
              return Value::string(s.substr(offsets[i], offsets[i + 1] - offsets[i]));
            }
          }
        } else {
          const auto& items = object.as_list().items;
          const auto n = static_cast<int64_t>(items.size());
          if (i < 0) i += n;
          if (i >= 0 && i < n) return items[static_cast<size_t>(i)];
        }
        return Value::undefined(fmt::format("{} has no element {}", object_type_repr(object), key.as_int()));
      }
      if (key.is_string()) return get_attr(object, key.as_string(), key.string_ptr());
      break;
    case Kind::kNamespace:
    case Kind::kLoop:
      if (key.is_string()) return get_attr(object, key.as_string(), key.string_ptr());
      break;
    default:
      break;
  }
  if (key.is_string()) return Value::undefined_attribute(object, key.string_ptr());
  std::string shown;
  try {
    shown = to_repr(key);
  } catch (const Error&) {
    shown = "...";
  }
  return Value::undefined(fmt::format("{} has no element {}", object_type_repr(object), shown));
}

bool Interpreter::contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::kUndefined: return false;
    case Kind::kString:
      if (!item.is_string()) {
        fail(ErrorType::kType, "'in <string>' requires string as left operand, not {}", type_name(item));
      }
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Kind::kList:
    case Kind::kTuple:
      charge(container.as_list().items.size());
      for (const Value& v : container.as_list().items) {
        if (equal(v, item)) return true;
      }
      return false;
    case Kind::kDict:
      if (item.is_list() || item.is_dict()) fail(ErrorType::kType, "unhashable type: '{}'", type_name(item));
      return container.as_dict().find(item) != nullptr;
    default: fail(ErrorType::kType, "argument of type '{}' is not iterable", type_name(container));
  }
}

namespace {

// Python's slice.indices(): clamps start/stop for a sequence of length n.
struct SliceRange {
  int64_t start, stop, step;
  int64_t count() const {
    if (step > 0) return start < stop ? (stop - start + step - 1) / step : 0;
    return start > stop ? (start - stop - step - 1) / (-step) : 0;
  }
};

SliceRange slice_indices(int64_t n, const Value& start, const Value& stop, const Value& step_value) {
  auto as_index = [](const Value& v, const char* what) -> int64_t {
    if (v.is_int() || v.is_bool()) return v.as_int();
    fail(ErrorType::kType, "slice {} must be an integer or None, not {}", what, type_name(v));
  };
  SliceRange r{0, 0, 1};
  if (!step_value.is_none() && !step_value.is_undefined()) r.step = as_index(step_value, "step");
  if (r.step == 0) fail(ErrorType::kValue, "slice step cannot be zero");
  if (r.step < -INT64_MAX) r.step = -INT64_MAX;
  const bool forward = r.step > 0;
  auto clamp = [&](const Value& v, int64_t default_value, const char* what) {
    if (v.is_none() || v.is_undefined()) return default_value;
    int64_t i = as_index(v, what);
    if (i < 0) {
      i = i < -n ? (forward ? 0 : -1) : i + n;
    } else if (i >= n) {
      i = forward ? n : n - 1;
    }
    return i;
  };
  r.start = clamp(start, forward ? 0 : n - 1, "indices");
  r.stop = clamp(stop, forward ? n : -1, "indices");
  return r;
}

}  // namespace

Value Interpreter::eval_slice(const Value& object, const SliceExpr& slice, Frame& frame) {
  const Value start = slice.start ? eval(*slice.start, frame) : Value::none();
  const Value stop = slice.stop ? eval(*slice.stop, frame) : Value::none();
  const Value step_value = slice.step ? eval(*slice.step, frame) : Value::none();
  if (object.is_undefined()) fail_undefined(object);
  if (object.is_string()) {
    charge_read(object);
    const std::string& s = object.as_string();
    const bool ascii = text::is_ascii(s);
    std::vector<size_t> offsets;
    if (!ascii) offsets = text::char_offsets(s);
    const int64_t n = ascii ? static_cast<int64_t>(s.size()) : static_cast<int64_t>(offsets.size()) - 1;
    const SliceRange r = slice_indices(n, start, stop, step_value);
    const int64_t count = r.count();
    charge(static_cast<uint64_t>(count) / 16);
    std::string out;
    if (r.step == 1 && count > 0) {
      const size_t b = ascii ? r.start : offsets[r.start];
      const size_t e = ascii ? r.start + count : offsets[r.start + count];
      out = s.substr(b, e - b);
    } else {
      for (int64_t k = 0, i = r.start; k < count; ++k, i += r.step) {
        if (ascii) {
          out.push_back(s[static_cast<size_t>(i)]);
        } else {
          out.append(s, offsets[i], offsets[i + 1] - offsets[i]);
        }
      }
    }
    return make_string(std::move(out));
  }
  if (object.is_sequence()) {
    const auto& items = object.as_list().items;
    const SliceRange r = slice_indices(static_cast<int64_t>(items.size()), start, stop, step_value);
    std::vector<Value> out;
    const int64_t count = r.count();
    out.reserve(static_cast<size_t>(count));
    for (int64_t k = 0, i = r.start; k < count; ++k, i += r.step) out.push_back(items[static_cast<size_t>(i)]);
    return object.is_tuple() ? make_tuple(std::move(out)) : make_list(std::move(out));
  }
  // Jinja compiles slices to plain Python subscripts, so these fail as Python does.
  if (object.is_dict()) fail(ErrorType::kType, "unhashable type: 'slice'");
  fail(ErrorType::kType, "'{}' object is not subscriptable", type_name(object));
}

}  // namespace strata::chat::jinja
