// The parsed form of a template: expression and statement nodes, each with its source offset.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace strata::chat::jinja {

using FilterFn = Value (*)(Interpreter& in, const Value& input, CallArgs& args);
using TestFn = bool (*)(Interpreter& in, const Value& input, CallArgs& args);

enum class ExprKind : uint8_t {
  kLiteral, kName, kList, kTuple, kDict, kGetAttr, kGetItem, kSlice, kCall, kFilter, kTest,
  kNot, kNegate, kPlus, kBinary, kAnd, kOr, kConcat, kCompare, kConditional,
};

enum class BinaryOp : uint8_t { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
enum class CompareOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct Expr {
  Expr(ExprKind k, uint32_t o) : kind(k), offset(o) {}
  virtual ~Expr() = default;
  ExprKind kind;
  uint32_t offset;
  int height = 1;  // of the subtree; the parser bounds it (see ParseOptions::max_depth)
};
using ExprPtr = std::unique_ptr<Expr>;

struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

struct LiteralExpr : Expr {
  LiteralExpr(uint32_t o, Value v) : Expr(ExprKind::kLiteral, o), value(std::move(v)) {}
  Value value;
};

struct NameExpr : Expr {
  NameExpr(uint32_t o, std::string n)
      : Expr(ExprKind::kName, o), name(std::move(n)), shared_name(std::make_shared<const std::string>(name)) {}
  std::string name;
  std::shared_ptr<const std::string> shared_name;  // carried by the undefined value when missing
};

struct SequenceExpr : Expr {  // list or tuple display
  using Expr::Expr;
  std::vector<ExprPtr> items;
};

struct DictExpr : Expr {
  explicit DictExpr(uint32_t o) : Expr(ExprKind::kDict, o) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct GetAttrExpr : Expr {
  GetAttrExpr(uint32_t o, ExprPtr obj, std::string n)
      : Expr(ExprKind::kGetAttr, o),
        object(std::move(obj)),
        name(std::move(n)),
        shared_name(std::make_shared<const std::string>(name)) {}
  ExprPtr object;
  std::string name;
  std::shared_ptr<const std::string> shared_name;
};

struct GetItemExpr : Expr {
  GetItemExpr(uint32_t o, ExprPtr obj, ExprPtr idx)
      : Expr(ExprKind::kGetItem, o), object(std::move(obj)), index(std::move(idx)) {}
  ExprPtr object;
  ExprPtr index;  // a SliceExpr for a[b:c:d]
};

struct SliceExpr : Expr {
  explicit SliceExpr(uint32_t o) : Expr(ExprKind::kSlice, o) {}
  ExprPtr start, stop, step;  // each may be null
};

struct CallExpr : Expr {
  CallExpr(uint32_t o, ExprPtr c) : Expr(ExprKind::kCall, o), callee(std::move(c)) {}
  ExprPtr callee;
  Arguments args;
};

struct FilterCall {
  uint32_t offset = 0;
  std::string name;
  FilterFn fn = nullptr;
  Arguments args;
};

struct FilterExpr : Expr {
  FilterExpr(uint32_t o, ExprPtr operand_expr)
      : Expr(ExprKind::kFilter, o), operand(std::move(operand_expr)) {}
  ExprPtr operand;
  FilterCall filter;
};

struct TestExpr : Expr {
  TestExpr(uint32_t o, ExprPtr operand_expr)
      : Expr(ExprKind::kTest, o), operand(std::move(operand_expr)) {}
  ExprPtr operand;
  std::string name;
  TestFn fn = nullptr;
  Arguments args;
  bool negated = false;
};

struct UnaryExpr : Expr {  // not, -, +
  UnaryExpr(ExprKind k, uint32_t o, ExprPtr e) : Expr(k, o), operand(std::move(e)) {}
  ExprPtr operand;
};

struct BinaryExpr : Expr {  // arithmetic, and, or
  BinaryExpr(ExprKind k, uint32_t o, BinaryOp bop, ExprPtr l, ExprPtr r)
      : Expr(k, o), op(bop), left(std::move(l)), right(std::move(r)) {}
  BinaryOp op;
  ExprPtr left, right;
};

struct ConcatExpr : Expr {  // a ~ b ~ c
  explicit ConcatExpr(uint32_t o) : Expr(ExprKind::kConcat, o) {}
  std::vector<ExprPtr> parts;
};

struct CompareExpr : Expr {  // a < b <= c, chained as in Python
  CompareExpr(uint32_t o, ExprPtr f) : Expr(ExprKind::kCompare, o), first(std::move(f)) {}
  ExprPtr first;
  struct Operand {
    CompareOp op;
    uint32_t offset;
    ExprPtr expr;
  };
  std::vector<Operand> rest;
};

struct ConditionalExpr : Expr {  // a if cond else b
  explicit ConditionalExpr(uint32_t o) : Expr(ExprKind::kConditional, o) {}
  ExprPtr condition, then_value, else_value;  // else_value may be null (undefined)
};

// --- statements -----------------------------------------------------------------------------

enum class StmtKind : uint8_t {
  kText, kEmit, kIf, kFor, kSet, kSetBlock, kMacro, kCallBlock, kFilterBlock, kWith, kBreak,
  kContinue, kDo, kScope,
};

struct Stmt {
  Stmt(StmtKind k, uint32_t o) : kind(k), offset(o) {}
  virtual ~Stmt() = default;
  StmtKind kind;
  uint32_t offset;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// What `set`, `for` and `with` assign to: a name, a tuple of names, or namespace.attr.
struct Target {
  enum class Kind : uint8_t { kName, kTuple, kAttribute } kind = Kind::kName;
  uint32_t offset = 0;
  std::string name;                // kName; the namespace variable for kAttribute
  std::string attribute;           // kAttribute
  std::vector<std::string> names;  // kTuple
};

struct TextStmt : Stmt {
  TextStmt(uint32_t o, std::string t) : Stmt(StmtKind::kText, o), text(std::move(t)) {}
  std::string text;
};

struct EmitStmt : Stmt {
  EmitStmt(uint32_t o, ExprPtr e) : Stmt(StmtKind::kEmit, o), expr(std::move(e)) {}
  ExprPtr expr;
};

struct IfStmt : Stmt {
  explicit IfStmt(uint32_t o) : Stmt(StmtKind::kIf, o) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if and elifs
  Body else_body;
};

struct ForStmt : Stmt {
  explicit ForStmt(uint32_t o) : Stmt(StmtKind::kFor, o) {}
  Target target;
  ExprPtr iterable;
  ExprPtr filter;  // `for x in xs if cond`; may be null
  Body body;
  Body else_body;
};

struct SetStmt : Stmt {
  explicit SetStmt(uint32_t o) : Stmt(StmtKind::kSet, o) {}
  Target target;
  ExprPtr value;
};

struct SetBlockStmt : Stmt {  // {% set x %}...{% endset %}
  explicit SetBlockStmt(uint32_t o) : Stmt(StmtKind::kSetBlock, o) {}
  Target target;
  std::vector<FilterCall> filters;
  Body body;
};

struct Parameter {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct MacroStmt : Stmt {
  explicit MacroStmt(uint32_t o) : Stmt(StmtKind::kMacro, o) {}
  std::string name;
  std::vector<Parameter> params;
  Body body;
};

struct CallBlockStmt : Stmt {  // {% call(args) macro(...) %}body{% endcall %}
  explicit CallBlockStmt(uint32_t o) : Stmt(StmtKind::kCallBlock, o) {}
  std::unique_ptr<CallExpr> call;
  std::vector<Parameter> caller_params;
  Body body;
};

struct FilterBlockStmt : Stmt {
  explicit FilterBlockStmt(uint32_t o) : Stmt(StmtKind::kFilterBlock, o) {}
  std::vector<FilterCall> filters;
  Body body;
};

struct WithStmt : Stmt {
  explicit WithStmt(uint32_t o) : Stmt(StmtKind::kWith, o) {}
  std::vector<std::pair<Target, ExprPtr>> assignments;
  Body body;
};

struct DoStmt : Stmt {
  DoStmt(uint32_t o, ExprPtr e) : Stmt(StmtKind::kDo, o), expr(std::move(e)) {}
  ExprPtr expr;
};

struct ScopeStmt : Stmt {  // {% generation %}: its body renders in place
  explicit ScopeStmt(uint32_t o) : Stmt(StmtKind::kScope, o) {}
  Body body;
};

struct LoopControlStmt : Stmt {  // break / continue
  using Stmt::Stmt;
};

struct Program {
  std::string source;  // normalized; offsets point into it
  Body body;
};

}  // namespace strata::chat::jinja
