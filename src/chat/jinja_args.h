// Binds Python-style call arguments (positional and keyword) to a builtin's parameter names.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja_value.h"

namespace strata::chat::jinja {

class BoundArgs {
 public:
  // `names` are the parameters in order. With allow_extra, surplus positional arguments are
  // kept (extra()) instead of being an error. Raises TypeError like Python.
  BoundArgs(std::string_view function, const CallArgs& args, std::initializer_list<std::string_view> names,
            bool allow_extra = false);

  bool has(size_t i) const { return slots_[i] != nullptr; }
  const Value& get(size_t i) const;  // undefined when not given
  Value get_or(size_t i, const Value& fallback) const { return has(i) ? *slots_[i] : fallback; }
  int64_t get_int(size_t i, int64_t fallback) const;
  bool get_bool(size_t i, bool fallback) const;
  // A string argument, or the fallback when absent or none.
  std::string get_string(size_t i, std::string fallback) const;
  const std::vector<Value>& extra() const { return extra_; }

  static constexpr size_t kMaxParams = 8;

 private:
  // Fixed arrays: builtins run in hot loops and should not allocate to bind arguments.
  std::string_view function_;
  size_t count_ = 0;
  std::array<std::string_view, kMaxParams> names_{};
  std::array<const Value*, kMaxParams> slots_{};
  std::vector<Value> extra_;
};

// Python int(v) for an argument: ints, bools and integral floats.
int64_t to_int_arg(const Value& v, std::string_view function, std::string_view param);

}  // namespace strata::chat::jinja
