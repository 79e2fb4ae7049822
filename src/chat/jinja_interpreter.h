// Executes a parsed template: scopes, statements, expressions, and the limits that keep an
// untrusted template from running long, recursing deeply or producing huge output.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"
#include "chat/render_options.h"

namespace strata::chat::jinja {

class Frame;
class MacroFunction;

class Interpreter {
 public:
  Interpreter(const RenderLimits& limits, Clock clock);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // `variables` become the template's context (they shadow the globals).
  std::string render(const Program& program, std::vector<std::pair<std::string, Value>> variables);

  // --- for builtins ---
  Value make_string(std::string s);  // counts against the limits
  Value make_list(std::vector<Value> items);
  Value make_tuple(std::vector<Value> items);
  Value make_dict();
  Value make_namespace();
  void charge(uint64_t steps);
  // For operations that read a whole string (length, search, compare): one step per 64 bytes,
  // so a loop over a huge string cannot run for minutes within the step limit.
  void charge_read(const Value& v) {
    if (v.is_string()) charge(v.as_string().size() / 64);
  }
  // Elements of an iterable value, as Python's iter() yields them.
  std::vector<Value> iterate(const Value& v);
  Value call(const Value& callee, CallArgs& args);
  Value get_attr(const Value& object, std::string_view name);
  // Same, with the name already shared (no allocation when the attribute is missing).
  Value get_attr(const Value& object, std::string_view name, const std::shared_ptr<const std::string>& shared_name);
  Value get_item(const Value& object, const Value& key);
  bool contains(const Value& container, const Value& item);
  std::tm now() const { return clock_(); }
  const RenderLimits& limits() const { return limits_; }

  // Called by macros and caller() blocks.
  Value invoke_macro(const MacroFunction& macro, CallArgs& args);

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  struct DepthGuard;

  Flow exec_body(const Body& body, Frame& frame);
  Flow exec(const Stmt& stmt, Frame& frame);
  Flow exec_for(const ForStmt& node, Frame& frame);
  void exec_call_block(const CallBlockStmt& node, Frame& frame);
  Value eval(const Expr& expr, Frame& frame);
  Value eval_node(const Expr& expr, Frame& frame);
  Value eval_call(const CallExpr& node, Frame& frame, std::vector<std::pair<std::string, Value>> extra);
  Value eval_slice(const Value& object, const SliceExpr& slice, Frame& frame);
  Value apply_filters(Value value, const std::vector<FilterCall>& filters, Frame& frame);
  CallArgs eval_args(const Arguments& args, Frame& frame);
  void assign(const Target& target, const Value& value, Frame& frame);
  std::string capture(const Body& body, Frame& frame);
  void emit(std::string_view text);
  std::shared_ptr<Frame> new_frame(Frame& parent);
  void step();

  RenderLimits limits_;
  Clock clock_;
  uint64_t steps_ = 0;
  int depth_ = 0;
  std::string* out_ = nullptr;
  std::shared_ptr<Frame> globals_;
  // Every container made during a render, emptied at the end: values may form cycles
  // (ns.self = ns) or very deep chains, which plain reference counting would leak or free
  // recursively.
  std::vector<std::shared_ptr<ListObject>> lists_;
  std::vector<std::shared_ptr<DictObject>> dicts_;
  std::vector<std::shared_ptr<Frame>> captured_frames_;
};

// Binary operators with Python semantics (also used by filters such as sum).
Value binary_op(Interpreter& in, BinaryOp op, const Value& a, const Value& b);

}  // namespace strata::chat::jinja
