// Argument binding for builtins (see jinja_args.h).
#include "chat/jinja_args.h"

#include <algorithm>
#include <cmath>

#include "chat/jinja_error.h"

namespace strata::chat::jinja {

BoundArgs::BoundArgs(std::string_view function, const CallArgs& args, std::initializer_list<std::string_view> names,
                     bool allow_extra)
    : function_(function), count_(std::min(names.size(), kMaxParams)) {
  std::copy_n(names.begin(), count_, names_.begin());
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < count_) {
      slots_[i] = &args.positional[i];
    } else if (allow_extra) {
      extra_.push_back(args.positional[i]);
    } else {
      fail(ErrorType::kType, "{}() takes at most {} argument{} ({} given)", function, count_,
           count_ == 1 ? "" : "s", args.positional.size());
    }
  }
  for (const auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < count_ && names_[i] != key) ++i;
    if (i == count_) fail(ErrorType::kType, "{}() got an unexpected keyword argument '{}'", function, key);
    if (slots_[i] != nullptr) fail(ErrorType::kType, "{}() got multiple values for argument '{}'", function, key);
    slots_[i] = &value;
  }
}

const Value& BoundArgs::get(size_t i) const {
  static const Value kUndefined;
  return slots_[i] != nullptr ? *slots_[i] : kUndefined;
}

int64_t BoundArgs::get_int(size_t i, int64_t fallback) const {
  if (!has(i) || slots_[i]->is_none()) return fallback;
  return to_int_arg(*slots_[i], function_, names_[i]);
}

bool BoundArgs::get_bool(size_t i, bool fallback) const {
  if (!has(i)) return fallback;
  return truthy(*slots_[i]);
}

std::string BoundArgs::get_string(size_t i, std::string fallback) const {
  if (!has(i) || slots_[i]->is_none()) return fallback;
  return to_str(*slots_[i]);
}

int64_t to_int_arg(const Value& v, std::string_view function, std::string_view param) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float() && std::isfinite(v.as_float()) && std::fabs(v.as_float()) < 9.2e18) {
    return static_cast<int64_t>(v.as_float());
  }
  if (v.is_undefined()) fail_undefined(v);
  fail(ErrorType::kType, "{}(): '{}' must be an integer, not {}", function, param, type_name(v));
}

}  // namespace strata::chat::jinja
