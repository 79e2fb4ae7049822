// Values of the template language: Python's None, bool, int, float, str, list, tuple and dict
// (insertion ordered), plus Jinja's Undefined, namespace(), callables and the loop object.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace strata::chat::jinja {

class Interpreter;
class Value;

enum class Kind : uint8_t {
  kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kTuple, kDict, kNamespace,
  kCallable, kLoop,
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// Builtins, macros and bound methods.
class Callable {
 public:
  virtual ~Callable() = default;
  virtual Value call(Interpreter& interpreter, CallArgs& args) = 0;
  virtual std::string repr() const = 0;
};

struct ListObject {
  std::vector<Value> items;
};

// A dict that keeps insertion order (tojson prints keys in that order). Small dicts are
// searched linearly; larger ones also index their string keys, so a request with many keys
// cannot make lookups quadratic.
class DictObject {
 public:
  size_t size() const;
  bool empty() const;
  const std::vector<std::pair<Value, Value>>& entries() const { return entries_; }
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);
  void clear();

 private:
  void index_entry(size_t i);
  // Index of `key` in entries_, or entries_.size() when absent.
  size_t position(std::string_view key) const;
  size_t position(const Value& key) const;

  std::vector<std::pair<Value, Value>> entries_;
  std::unordered_map<std::string_view, size_t> index_;  // views into keys held by entries_
};

// State of the innermost `for` loop, read through `loop.*`.
struct LoopState {
  std::vector<Value> items;
  size_t index0 = 0;
  std::vector<Value> last_changed;
  bool has_changed = false;
};

class Value {
 public:
  Value() = default;  // undefined

  static Value undefined(std::string hint = {});
  static Value undefined(std::shared_ptr<const std::string> hint);
  // Undefined values whose message is only formatted if an error needs it (missing names and
  // attributes are common in templates and usually just tested with `is defined`).
  static Value undefined_name(std::shared_ptr<const std::string> name);                        // 'x' is undefined
  static Value undefined_attribute(const Value& object, std::shared_ptr<const std::string> name);  // has no attribute
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value floating(double d);
  static Value string(std::string s);
  static Value string(std::shared_ptr<const std::string> s);
  static Value list(std::shared_ptr<ListObject> list);
  static Value tuple(std::shared_ptr<ListObject> list);
  static Value dict(std::shared_ptr<DictObject> dict);
  static Value name_space(std::shared_ptr<DictObject> dict);
  static Value callable(std::shared_ptr<Callable> fn);
  static Value loop(std::shared_ptr<LoopState> loop);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat || kind_ == Kind::kBool; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_sequence() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_tuple() const { return kind_ == Kind::kTuple; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_namespace() const { return kind_ == Kind::kNamespace; }
  bool is_callable() const { return kind_ == Kind::kCallable; }
  bool is_loop() const { return kind_ == Kind::kLoop; }

  bool as_bool() const { return scalar_.b; }
  int64_t as_int() const { return kind_ == Kind::kBool ? (scalar_.b ? 1 : 0) : scalar_.i; }
  double as_float() const;  // any number
  const std::string& as_string() const { return *static_cast<const std::string*>(ptr_.get()); }
  std::shared_ptr<const std::string> string_ptr() const;
  ListObject& as_list() const { return *static_cast<ListObject*>(ptr_.get()); }
  DictObject& as_dict() const { return *static_cast<DictObject*>(ptr_.get()); }
  Callable& as_callable() const { return *static_cast<Callable*>(ptr_.get()); }
  LoopState& as_loop() const { return *static_cast<LoopState*>(ptr_.get()); }
  const void* identity() const { return ptr_.get(); }
  // Why an undefined value is undefined ("'x' is undefined"), for its error messages.
  std::string undefined_message() const;

 private:
  Kind kind_ = Kind::kUndefined;
  union {
    bool b;
    int64_t i;
    double f;
  } scalar_{};
  std::shared_ptr<void> ptr_;
};

// Values nest at most this deep wherever they are walked recursively (printing, tojson,
// equality): deeper (or cyclic) structures fail cleanly instead of exhausting the stack.
inline constexpr int kMaxValueDepth = 128;

bool truthy(const Value& v);
// Python's type name: 'str', 'int', 'NoneType', 'dict', ...
std::string_view type_name(const Value& v);
// Jinja's object_type_repr: "None", "dict object", ... (used in undefined messages).
std::string object_type_repr(const Value& v);
std::string object_type_repr(Kind kind);

// Python str(v) and repr(v), appended to `out`.
void append_str(std::string& out, const Value& v, int depth = 0);
void append_repr(std::string& out, const Value& v, int depth = 0);
std::string to_str(const Value& v);
std::string to_repr(const Value& v);

// Python ==.
bool equal(const Value& a, const Value& b, int depth = 0);
// Python ordering (<): numbers, strings, lists and tuples; raises TypeError naming `op` for
// other pairs and UndefinedError for undefined operands. Returns <0, 0, >0.
int compare(const Value& a, const Value& b, std::string_view op, int depth = 0);

// Nodes visited by equal(), compare() and repr since the last call, on this thread. The
// interpreter adds them to its step count, so comparing or printing big values repeatedly
// is bounded like any other work.
uint64_t take_value_work();

// Throws UndefinedError carrying the value's message.
[[noreturn]] void fail_undefined(const Value& v);

}  // namespace strata::chat::jinja
