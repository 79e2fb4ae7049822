// Template interpreter (see jinja_interpreter.h): a tree walker over the parsed program.
#include "chat/jinja_interpreter.h"

#include <cmath>

#include "chat/jinja_builtins.h"
#include "chat/jinja_error.h"
#include "chat/jinja_text.h"

namespace strata::chat::jinja {

// A scope: Jinja creates one per loop iteration, macro call and with/set block; `if` shares
// its enclosing scope. Frames are shared so macros can keep their defining scope alive.
class Frame : public std::enable_shared_from_this<Frame> {
 public:
  explicit Frame(std::shared_ptr<Frame> parent) : parent_(std::move(parent)) { vars_.reserve(4); }

  const Value* lookup(std::string_view name) const {
    for (const Frame* f = this; f != nullptr; f = f->parent_.get()) {
      for (const auto& [k, v] : f->vars_) {
        if (k == name) return &v;
      }
    }
    return nullptr;
  }

  void set(std::string_view name, Value value) {
    for (auto& [k, v] : vars_) {
      if (k == name) {
        v = std::move(value);
        return;
      }
    }
    vars_.emplace_back(std::string(name), std::move(value));
  }

  void clear() {
    vars_.clear();
    parent_.reset();
  }

 private:
  std::shared_ptr<Frame> parent_;
  std::vector<std::pair<std::string, Value>> vars_;
};

class MacroFunction : public Callable {
 public:
  MacroFunction(std::string n, const std::vector<Parameter>* p, const Body* b, std::shared_ptr<Frame> c)
      : name(std::move(n)), params(p), body(b), closure(std::move(c)) {}
  Value call(Interpreter& in, CallArgs& args) override { return in.invoke_macro(*this, args); }
  std::string repr() const override { return fmt::format("<Macro '{}'>", name); }

  std::string name;
  const std::vector<Parameter>* params;
  const Body* body;
  std::shared_ptr<Frame> closure;
};

struct Interpreter::DepthGuard {
  explicit DepthGuard(Interpreter& in) : interpreter(in) {
    if (++interpreter.depth_ > interpreter.limits_.max_depth) {
      --interpreter.depth_;
      fail(ErrorType::kLimit, "template recursion deeper than {} levels (a macro that calls itself without end?)",
           interpreter.limits_.max_depth);
    }
  }
  ~DepthGuard() { --interpreter.depth_; }
  Interpreter& interpreter;
};

std::tm local_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

Interpreter::Interpreter(const RenderLimits& limits, Clock clock)
    : limits_(limits), clock_(clock ? std::move(clock) : Clock(local_now)) {}

Interpreter::~Interpreter() {
  for (auto& f : captured_frames_) f->clear();
  for (auto& l : lists_) l->items.clear();
  for (auto& d : dicts_) d->clear();
}

// --- rendering ------------------------------------------------------------------------------

std::shared_ptr<Frame> Interpreter::new_frame(Frame& parent) {
  return std::make_shared<Frame>(parent.shared_from_this());
}

std::string Interpreter::render(const Program& program, std::vector<std::pair<std::string, Value>> variables) {
  take_value_work();  // work counted on this thread before the render is not ours
  static const std::vector<std::pair<std::string, Value>> kGlobals = make_globals();
  globals_ = std::make_shared<Frame>(nullptr);
  for (const auto& [name, value] : kGlobals) globals_->set(name, value);
  auto root = std::make_shared<Frame>(globals_);
  for (auto& [name, value] : variables) root->set(name, std::move(value));
  captured_frames_.push_back(root);
  std::string output;
  out_ = &output;
  exec_body(program.body, *root);
  out_ = nullptr;
  return output;
}

void Interpreter::emit(std::string_view s) {
  if (out_->size() + s.size() > limits_.max_output_bytes) {
    fail(ErrorType::kLimit, "template output exceeds {} bytes", limits_.max_output_bytes);
  }
  out_->append(s);
}

std::string Interpreter::capture(const Body& body, Frame& frame) {
  std::string buffer;
  std::string* saved = out_;
  out_ = &buffer;
  try {
    exec_body(body, frame);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buffer;
}

Interpreter::Flow Interpreter::exec_body(const Body& body, Frame& frame) {
  for (const StmtPtr& stmt : body) {
    const Flow flow = exec(*stmt, frame);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec(const Stmt& stmt, Frame& frame) {
  DepthGuard guard(*this);
  step();
  try {
    switch (stmt.kind) {
      case StmtKind::kText:
        emit(static_cast<const TextStmt&>(stmt).text);
        return Flow::kNormal;
      case StmtKind::kEmit: {
        const Value v = eval(*static_cast<const EmitStmt&>(stmt).expr, frame);
        if (v.is_string()) {
          emit(v.as_string());
        } else {
          emit(to_str(v));
        }
        return Flow::kNormal;
      }
      case StmtKind::kIf: {
        const auto& node = static_cast<const IfStmt&>(stmt);
        for (const auto& [condition, body] : node.branches) {
          if (truthy(eval(*condition, frame))) return exec_body(body, frame);
        }
        return exec_body(node.else_body, frame);
      }
      case StmtKind::kFor: return exec_for(static_cast<const ForStmt&>(stmt), frame);
      case StmtKind::kSet: {
        const auto& node = static_cast<const SetStmt&>(stmt);
        assign(node.target, eval(*node.value, frame), frame);
        return Flow::kNormal;
      }
      case StmtKind::kSetBlock: {
        const auto& node = static_cast<const SetBlockStmt&>(stmt);
        auto inner = new_frame(frame);
        Value value = make_string(capture(node.body, *inner));
        value = apply_filters(std::move(value), node.filters, frame);
        assign(node.target, value, frame);
        return Flow::kNormal;
      }
      case StmtKind::kMacro: {
        const auto& node = static_cast<const MacroStmt&>(stmt);
        auto closure = frame.shared_from_this();
        captured_frames_.push_back(closure);
        frame.set(node.name, Value::callable(std::make_shared<MacroFunction>(node.name, &node.params,
                                                                             &node.body, closure)));
        return Flow::kNormal;
      }
      case StmtKind::kCallBlock:
        exec_call_block(static_cast<const CallBlockStmt&>(stmt), frame);
        return Flow::kNormal;
      case StmtKind::kFilterBlock: {
        const auto& node = static_cast<const FilterBlockStmt&>(stmt);
        Value value = make_string(capture(node.body, frame));
        value = apply_filters(std::move(value), node.filters, frame);
        emit(to_str(value));
        return Flow::kNormal;
      }
      case StmtKind::kWith: {
        const auto& node = static_cast<const WithStmt&>(stmt);
        std::vector<Value> values;
        for (const auto& [target, expr] : node.assignments) values.push_back(eval(*expr, frame));
        auto inner = new_frame(frame);
        for (size_t i = 0; i < values.size(); ++i) assign(node.assignments[i].first, values[i], *inner);
        return exec_body(node.body, *inner);
      }
      case StmtKind::kBreak: return Flow::kBreak;
      case StmtKind::kContinue: return Flow::kContinue;
      case StmtKind::kDo:
        eval(*static_cast<const DoStmt&>(stmt).expr, frame);
        return Flow::kNormal;
      case StmtKind::kScope: return exec_body(static_cast<const ScopeStmt&>(stmt).body, frame);
    }
  } catch (Error& e) {
    if (!e.has_offset()) e.set_offset(stmt.offset);
    throw;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::exec_for(const ForStmt& node, Frame& frame) {
  std::vector<Value> items = iterate(eval(*node.iterable, frame));
  if (node.filter != nullptr) {
    std::vector<Value> kept;
    for (Value& item : items) {
      step();
      auto probe = new_frame(frame);
      assign(node.target, item, *probe);
      if (truthy(eval(*node.filter, *probe))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    if (node.else_body.empty()) return Flow::kNormal;
    auto inner = new_frame(frame);
    const Flow flow = exec_body(node.else_body, *inner);
    // break/continue in the else part belong to an enclosing loop.
    return flow;
  }
  auto loop = std::make_shared<LoopState>();
  loop->items = std::move(items);
  const Value loop_value = Value::loop(loop);
  for (size_t i = 0; i < loop->items.size(); ++i) {
    step();
    loop->index0 = i;
    auto inner = new_frame(frame);
    inner->set("loop", loop_value);
    assign(node.target, loop->items[i], *inner);
    if (exec_body(node.body, *inner) == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

void Interpreter::exec_call_block(const CallBlockStmt& node, Frame& frame) {
  auto closure = frame.shared_from_this();
  captured_frames_.push_back(closure);
  Value caller = Value::callable(std::make_shared<MacroFunction>("caller", &node.caller_params, &node.body, closure));
  std::vector<std::pair<std::string, Value>> extra;
  extra.emplace_back("caller", std::move(caller));
  const Value result = eval_call(*node.call, frame, std::move(extra));
  emit(to_str(result));
}

Value Interpreter::invoke_macro(const MacroFunction& macro, CallArgs& args) {
  DepthGuard guard(*this);
  auto frame = std::make_shared<Frame>(macro.closure);
  const std::vector<Parameter>& params = *macro.params;
  std::vector<bool> bound(params.size(), false);
  std::vector<Value> varargs;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < params.size()) {
      frame->set(params[i].name, args.positional[i]);
      bound[i] = true;
    } else {
      varargs.push_back(args.positional[i]);
    }
  }
  Value kwargs = make_dict();
  Value caller;
  for (auto& [key, value] : args.keyword) {
    bool matched = false;
    for (size_t i = 0; i < params.size(); ++i) {
      if (params[i].name != key) continue;
      if (bound[i]) fail(ErrorType::kType, "macro '{}' got multiple values for argument '{}'", macro.name, key);
      frame->set(key, value);
      bound[i] = true;
      matched = true;
    }
    if (matched) continue;
    if (key == "caller") {
      caller = value;
    } else {
      kwargs.as_dict().set(Value::string(key), value);
    }
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (bound[i]) continue;
    if (params[i].default_value != nullptr) {
      frame->set(params[i].name, eval(*params[i].default_value, *frame));
    } else {
      frame->set(params[i].name, Value::undefined(fmt::format("parameter '{}' was not provided", params[i].name)));
    }
  }
  frame->set("varargs", make_tuple(std::move(varargs)));
  frame->set("kwargs", kwargs);
  if (!caller.is_undefined()) frame->set("caller", caller);
  return make_string(capture(*macro.body, *frame));
}

void Interpreter::assign(const Target& target, const Value& value, Frame& frame) {
  switch (target.kind) {
    case Target::Kind::kName: frame.set(target.name, value); return;
    case Target::Kind::kTuple: {
      std::vector<Value> items = iterate(value);
      if (items.size() < target.names.size()) {
        fail(ErrorType::kValue, "not enough values to unpack (expected {}, got {})", target.names.size(),
             items.size());
      }
      if (items.size() > target.names.size()) {
        fail(ErrorType::kValue, "too many values to unpack (expected {})", target.names.size());
      }
      for (size_t i = 0; i < items.size(); ++i) frame.set(target.names[i], std::move(items[i]));
      return;
    }
    case Target::Kind::kAttribute: {
      const Value* ns = frame.lookup(target.name);
      if (ns == nullptr || !ns->is_namespace()) {
        throw Error(ErrorType::kRuntime, "cannot assign attribute on non-namespace object", target.offset);
      }
      ns->as_dict().set(Value::string(target.attribute), value);
      return;
    }
  }
}

// --- expressions ----------------------------------------------------------------------------

Value Interpreter::eval(const Expr& expr, Frame& frame) {
  DepthGuard guard(*this);
  step();
  try {
    return eval_node(expr, frame);
  } catch (Error& e) {
    if (!e.has_offset()) e.set_offset(expr.offset);
    throw;
  }
}

CallArgs Interpreter::eval_args(const Arguments& args, Frame& frame) {
  CallArgs out;
  out.positional.reserve(args.positional.size());
  for (const ExprPtr& e : args.positional) out.positional.push_back(eval(*e, frame));
  for (const auto& [name, e] : args.keyword) out.keyword.emplace_back(name, eval(*e, frame));
  return out;
}

Value Interpreter::apply_filters(Value value, const std::vector<FilterCall>& filters, Frame& frame) {
  for (const FilterCall& f : filters) {
    CallArgs args = eval_args(f.args, frame);
    try {
      value = f.fn(*this, value, args);
    } catch (Error& e) {
      if (!e.has_offset()) e.set_offset(f.offset);
      throw;
    }
  }
  return value;
}

Value Interpreter::eval_call(const CallExpr& node, Frame& frame, std::vector<std::pair<std::string, Value>> extra) {
  if (node.callee->kind == ExprKind::kGetAttr) {
    const auto& attr = static_cast<const GetAttrExpr&>(*node.callee);
    const Value object = eval(*attr.object, frame);
    if (!object.is_undefined() && has_method(object, attr.name)) {
      charge_read(object);
      CallArgs args = eval_args(node.args, frame);
      for (auto& kv : extra) args.keyword.push_back(std::move(kv));
      return call_method(*this, object, attr.name, args);
    }
    const Value callee = get_attr(object, attr.name, attr.shared_name);
    CallArgs args = eval_args(node.args, frame);
    for (auto& kv : extra) args.keyword.push_back(std::move(kv));
    return call(callee, args);
  }
  const Value callee = eval(*node.callee, frame);
  CallArgs args = eval_args(node.args, frame);
  for (auto& kv : extra) args.keyword.push_back(std::move(kv));
  return call(callee, args);
}

Value Interpreter::eval_node(const Expr& expr, Frame& frame) {
  switch (expr.kind) {
    case ExprKind::kLiteral: return static_cast<const LiteralExpr&>(expr).value;
    case ExprKind::kName: {
      const auto& node = static_cast<const NameExpr&>(expr);
      if (const Value* v = frame.lookup(node.name)) return *v;
      return Value::undefined_name(node.shared_name);
    }
    case ExprKind::kList:
    case ExprKind::kTuple: {
      const auto& node = static_cast<const SequenceExpr&>(expr);
      std::vector<Value> items;
      items.reserve(node.items.size());
      for (const ExprPtr& e : node.items) items.push_back(eval(*e, frame));
      return expr.kind == ExprKind::kList ? make_list(std::move(items)) : make_tuple(std::move(items));
    }
    case ExprKind::kDict: {
      const auto& node = static_cast<const DictExpr&>(expr);
      Value dict = make_dict();
      for (const auto& [k, v] : node.items) {
        Value key = eval(*k, frame);
        if (key.is_list() || key.is_dict() || key.is_namespace() || key.is_undefined()) {
          if (key.is_undefined()) fail_undefined(key);
          throw Error(ErrorType::kType, fmt::format("unhashable type: '{}'", type_name(key)), k->offset);
        }
        dict.as_dict().set(std::move(key), eval(*v, frame));
      }
      return dict;
    }
    case ExprKind::kGetAttr: {
      const auto& node = static_cast<const GetAttrExpr&>(expr);
      return get_attr(eval(*node.object, frame), node.name, node.shared_name);
    }
    case ExprKind::kGetItem: {
      const auto& node = static_cast<const GetItemExpr&>(expr);
      const Value object = eval(*node.object, frame);
      if (node.index->kind == ExprKind::kSlice) {
        return eval_slice(object, static_cast<const SliceExpr&>(*node.index), frame);
      }
      return get_item(object, eval(*node.index, frame));
    }
    case ExprKind::kSlice: fail(ErrorType::kSyntax, "a slice is only valid inside []");
    case ExprKind::kCall: return eval_call(static_cast<const CallExpr&>(expr), frame, {});
    case ExprKind::kFilter: {
      const auto& node = static_cast<const FilterExpr&>(expr);
      const Value operand = eval(*node.operand, frame);
      charge_read(operand);
      CallArgs args = eval_args(node.filter.args, frame);
      return node.filter.fn(*this, operand, args);
    }
    case ExprKind::kTest: {
      const auto& node = static_cast<const TestExpr&>(expr);
      const Value operand = eval(*node.operand, frame);
      charge_read(operand);
      CallArgs args = eval_args(node.args, frame);
      const bool result = node.fn(*this, operand, args);
      return Value::boolean(node.negated ? !result : result);
    }
    case ExprKind::kNot:
      return Value::boolean(!truthy(eval(*static_cast<const UnaryExpr&>(expr).operand, frame)));
    case ExprKind::kNegate:
    case ExprKind::kPlus: {
      const Value v = eval(*static_cast<const UnaryExpr&>(expr).operand, frame);
      if (v.is_undefined()) fail_undefined(v);
      const bool negate = expr.kind == ExprKind::kNegate;
      if (v.is_float()) return Value::floating(negate ? -v.as_float() : v.as_float());
      if (v.is_int() || v.is_bool()) {
        if (!negate) return Value::integer(v.as_int());
        if (v.as_int() == INT64_MIN) fail(ErrorType::kValue, "integer overflow in -{}", v.as_int());
        return Value::integer(-v.as_int());
      }
      fail(ErrorType::kType, "bad operand type for unary {}: '{}'", negate ? '-' : '+', type_name(v));
    }
    case ExprKind::kBinary: {
      const auto& node = static_cast<const BinaryExpr&>(expr);
      const Value left = eval(*node.left, frame);
      const Value right = eval(*node.right, frame);
      return binary_op(*this, node.op, left, right);
    }
    case ExprKind::kAnd: {
      const auto& node = static_cast<const BinaryExpr&>(expr);
      Value left = eval(*node.left, frame);
      if (!truthy(left)) return left;
      return eval(*node.right, frame);
    }
    case ExprKind::kOr: {
      const auto& node = static_cast<const BinaryExpr&>(expr);
      Value left = eval(*node.left, frame);
      if (truthy(left)) return left;
      return eval(*node.right, frame);
    }
    case ExprKind::kConcat: {
      const auto& node = static_cast<const ConcatExpr&>(expr);
      std::string out;
      for (const ExprPtr& part : node.parts) {
        const Value v = eval(*part, frame);
        if (v.is_string()) {
          out += v.as_string();
        } else {
          append_str(out, v);
        }
        if (out.size() > limits_.max_output_bytes) make_string(std::move(out));  // fails
      }
      return make_string(std::move(out));
    }
    case ExprKind::kCompare: {
      const auto& node = static_cast<const CompareExpr&>(expr);
      Value left = eval(*node.first, frame);
      for (const auto& operand : node.rest) {
        const bool literal_sequence = operand.expr->kind == ExprKind::kList || operand.expr->kind == ExprKind::kTuple;
        if ((operand.op == CompareOp::kIn || operand.op == CompareOp::kNotIn) && literal_sequence &&
            &operand == &node.rest.back()) {
          // `x in ['a', 'b']`: compare item by item instead of building the list.
          bool found = false;
          charge_read(left);
          for (const ExprPtr& item : static_cast<const SequenceExpr&>(*operand.expr).items) {
            if (equal(eval(*item, frame), left)) {
              found = true;
              break;
            }
          }
          return Value::boolean(operand.op == CompareOp::kIn ? found : !found);
        }
        Value right = eval(*operand.expr, frame);
        charge_read(left);
        charge_read(right);
        bool result = false;
        try {
          switch (operand.op) {
            case CompareOp::kEq: result = equal(left, right); break;
            case CompareOp::kNe: result = !equal(left, right); break;
            case CompareOp::kLt: result = compare(left, right, "<") < 0; break;
            case CompareOp::kLe: {
              const Value* l = &left;
              const Value* r = &right;
              result = compare(*l, *r, "<=") <= 0;
              // NaN compares false both ways.
              if (l->is_float() && std::isnan(l->as_float())) result = false;
              if (r->is_float() && std::isnan(r->as_float())) result = false;
              break;
            }
            case CompareOp::kGt: result = compare(left, right, ">") > 0; break;
            case CompareOp::kGe: {
              result = compare(left, right, ">=") >= 0;
              if (left.is_float() && std::isnan(left.as_float())) result = false;
              if (right.is_float() && std::isnan(right.as_float())) result = false;
              break;
            }
            case CompareOp::kIn: result = contains(right, left); break;
            case CompareOp::kNotIn: result = !contains(right, left); break;
          }
        } catch (Error& e) {
          if (!e.has_offset()) e.set_offset(operand.offset);
          throw;
        }
        if (!result) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case ExprKind::kConditional: {
      const auto& node = static_cast<const ConditionalExpr&>(expr);
      if (truthy(eval(*node.condition, frame))) return eval(*node.then_value, frame);
      if (node.else_value != nullptr) return eval(*node.else_value, frame);
      static const auto kNoElse = std::make_shared<const std::string>(
          "the inline if-expression evaluated to false and no else section was defined");
      return Value::undefined(kNoElse);
    }
  }
  return Value();
}

}  // namespace strata::chat::jinja
