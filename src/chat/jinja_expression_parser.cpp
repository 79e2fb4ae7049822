// Expression parsing (see jinja_expression_parser.h): a recursive-descent port of Jinja 3.1.
#include "chat/jinja_expression_parser.h"

#include "chat/jinja_builtins.h"

namespace strata::chat::jinja {

bool ExpressionParser::is_tuple_end(const std::vector<std::string_view>& extra_end) const {
  const Token& t = current();
  if (t.type == TokenType::kVariableEnd || t.type == TokenType::kBlockEnd || t.type == TokenType::kEnd) return true;
  if (is_op(t, ")")) return true;
  return t.type == TokenType::kName &&
         std::find(extra_end.begin(), extra_end.end(), t.text) != extra_end.end();
}

ExprPtr ExpressionParser::parse_tuple(bool with_condexpr, bool explicit_parens, std::vector<std::string_view> extra_end) {
  const uint32_t offset = current().offset;
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    items.push_back(with_condexpr ? parse_expression() : parse_or());
    if (is_op(current(), ",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parens) fail_here("expected an expression, got '{}'", describe(current()));
  }
  auto node = std::make_unique<SequenceExpr>(ExprKind::kTuple, offset);
  int h = 0;
  for (const auto& i : items) h = std::max(h, height(i.get()));
  node->items = std::move(items);
  return set_height(std::move(node), h + 1);
}

ExprPtr ExpressionParser::parse_expression() {
  DepthGuard guard(*this, current().offset);
  return parse_condexpr();
}

ExprPtr ExpressionParser::parse_condexpr() {
  ExprPtr expr = parse_or();
  while (is_name(current(), "if")) {
    auto node = std::make_unique<ConditionalExpr>(advance().offset);
    node->condition = parse_or();
    if (skip_name("else")) node->else_value = parse_condexpr();
    node->then_value = std::move(expr);
    const Expr* c = node->condition.get();
    const Expr* t = node->then_value.get();
    const Expr* e = node->else_value.get();
    expr = finish(std::move(node), {c, t, e});
  }
  return expr;
}

ExprPtr ExpressionParser::parse_or() {
  ExprPtr left = parse_and();
  while (is_name(current(), "or")) {
    const uint32_t offset = advance().offset;
    ExprPtr right = parse_and();
    const Expr* l = left.get();
    const Expr* r = right.get();
    left = finish(std::make_unique<BinaryExpr>(ExprKind::kOr, offset, BinaryOp::kAdd, std::move(left),
                                               std::move(right)),
                  {l, r});
  }
  return left;
}

ExprPtr ExpressionParser::parse_and() {
  ExprPtr left = parse_not();
  while (is_name(current(), "and")) {
    const uint32_t offset = advance().offset;
    ExprPtr right = parse_not();
    const Expr* l = left.get();
    const Expr* r = right.get();
    left = finish(std::make_unique<BinaryExpr>(ExprKind::kAnd, offset, BinaryOp::kAdd, std::move(left),
                                               std::move(right)),
                  {l, r});
  }
  return left;
}

ExprPtr ExpressionParser::parse_not() {
  if (is_name(current(), "not")) {
    const uint32_t offset = advance().offset;
    DepthGuard guard(*this, offset);
    ExprPtr operand = parse_not();
    const Expr* o = operand.get();
    return finish(std::make_unique<UnaryExpr>(ExprKind::kNot, offset, std::move(operand)), {o});
  }
  return parse_compare();
}

ExprPtr ExpressionParser::parse_compare() {
  const uint32_t offset = current().offset;
  ExprPtr first = parse_math1();
  std::unique_ptr<CompareExpr> node;
  int h = height(first.get());
  while (true) {
    const Token& t = current();
    CompareOp op;
    uint32_t op_offset = t.offset;
    if (t.type == TokenType::kOperator && (t.text == "==" || t.text == "!=" || t.text == "<" ||
                                           t.text == "<=" || t.text == ">" || t.text == ">=")) {
      op = t.text == "==" ? CompareOp::kEq
           : t.text == "!=" ? CompareOp::kNe
           : t.text == "<"  ? CompareOp::kLt
           : t.text == "<=" ? CompareOp::kLe
           : t.text == ">"  ? CompareOp::kGt
                            : CompareOp::kGe;
      advance();
    } else if (is_name(t, "in")) {
      op = CompareOp::kIn;
      advance();
    } else if (is_name(t, "not") && is_name(peek(), "in")) {
      op = CompareOp::kNotIn;
      advance();
      advance();
    } else {
      break;
    }
    if (node == nullptr) node = std::make_unique<CompareExpr>(offset, std::move(first));
    ExprPtr operand = parse_math1();
    h = std::max(h, height(operand.get()));
    node->rest.push_back({op, op_offset, std::move(operand)});
  }
  if (node == nullptr) return first;
  return set_height(std::move(node), h + 1);
}

ExprPtr ExpressionParser::make_binary(BinaryOp op, uint32_t offset, ExprPtr left, ExprPtr right) {
  const Expr* l = left.get();
  const Expr* r = right.get();
  return finish(std::make_unique<BinaryExpr>(ExprKind::kBinary, offset, op, std::move(left), std::move(right)),
                {l, r});
}

ExprPtr ExpressionParser::parse_math1() {
  ExprPtr left = parse_concat();
  while (is_op(current(), "+") || is_op(current(), "-")) {
    const BinaryOp op = current().text == "+" ? BinaryOp::kAdd : BinaryOp::kSub;
    const uint32_t offset = advance().offset;
    left = make_binary(op, offset, std::move(left), parse_concat());
  }
  return left;
}

ExprPtr ExpressionParser::parse_concat() {
  const uint32_t offset = current().offset;
  ExprPtr first = parse_math2();
  if (!is_op(current(), "~")) return first;
  auto node = std::make_unique<ConcatExpr>(offset);
  int h = height(first.get());
  node->parts.push_back(std::move(first));
  while (skip_op("~")) {
    node->parts.push_back(parse_math2());
    h = std::max(h, height(node->parts.back().get()));
  }
  return set_height(std::move(node), h + 1);
}

ExprPtr ExpressionParser::parse_math2() {
  ExprPtr left = parse_pow();
  while (true) {
    const Token& t = current();
    BinaryOp op;
    if (is_op(t, "*")) {
      op = BinaryOp::kMul;
    } else if (is_op(t, "/")) {
      op = BinaryOp::kDiv;
    } else if (is_op(t, "//")) {
      op = BinaryOp::kFloorDiv;
    } else if (is_op(t, "%")) {
      op = BinaryOp::kMod;
    } else {
      break;
    }
    const uint32_t offset = advance().offset;
    left = make_binary(op, offset, std::move(left), parse_pow());
  }
  return left;
}

ExprPtr ExpressionParser::parse_pow() {
  ExprPtr left = parse_unary(true);
  while (is_op(current(), "**")) {
    const uint32_t offset = advance().offset;
    left = make_binary(BinaryOp::kPow, offset, std::move(left), parse_unary(true));
  }
  return left;
}

ExprPtr ExpressionParser::parse_unary(bool with_filter) {
  ExprPtr node;
  const uint32_t offset = current().offset;
  if (is_op(current(), "-") || is_op(current(), "+")) {
    const ExprKind kind = current().text == "-" ? ExprKind::kNegate : ExprKind::kPlus;
    advance();
    DepthGuard guard(*this, offset);
    ExprPtr operand = parse_unary(false);
    const Expr* o = operand.get();
    node = finish(std::make_unique<UnaryExpr>(kind, offset, std::move(operand)), {o});
  } else {
    node = parse_primary();
  }
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr ExpressionParser::parse_primary() {
  const Token& t = current();
  const uint32_t offset = t.offset;
  switch (t.type) {
    case TokenType::kName: {
      ExprPtr node;
      if (t.text == "true" || t.text == "True") {
        node = std::make_unique<LiteralExpr>(offset, Value::boolean(true));
      } else if (t.text == "false" || t.text == "False") {
        node = std::make_unique<LiteralExpr>(offset, Value::boolean(false));
      } else if (t.text == "none" || t.text == "None") {
        node = std::make_unique<LiteralExpr>(offset, Value::none());
      } else {
        node = std::make_unique<NameExpr>(offset, t.text);
      }
      advance();
      return set_height(std::move(node), 1);
    }
    case TokenType::kString: {
      std::string s = advance().text;
      while (current().type == TokenType::kString) s += advance().text;  // "a" "b" joins
      return set_height(std::make_unique<LiteralExpr>(offset, Value::string(std::move(s))), 1);
    }
    case TokenType::kInteger:
      return set_height(std::make_unique<LiteralExpr>(offset, Value::integer(advance().int_value)), 1);
    case TokenType::kFloat:
      return set_height(std::make_unique<LiteralExpr>(offset, Value::floating(advance().float_value)), 1);
    case TokenType::kOperator:
      if (t.text == "(") {
        advance();
        DepthGuard guard(*this, offset);
        ExprPtr node = parse_tuple(true, true, {});
        expect_op(")");
        return node;
      }
      if (t.text == "[") return parse_list();
      if (t.text == "{") return parse_dict();
      break;
    default:
      break;
  }
  fail_here("unexpected '{}'", describe(t));
}

ExprPtr ExpressionParser::parse_list() {
  const uint32_t offset = advance().offset;
  DepthGuard guard(*this, offset);
  auto node = std::make_unique<SequenceExpr>(ExprKind::kList, offset);
  int h = 0;
  while (!is_op(current(), "]")) {
    if (!node->items.empty()) expect_op(",");
    if (is_op(current(), "]")) break;
    node->items.push_back(parse_expression());
    h = std::max(h, height(node->items.back().get()));
  }
  expect_op("]");
  return set_height(std::move(node), h + 1);
}

ExprPtr ExpressionParser::parse_dict() {
  const uint32_t offset = advance().offset;
  DepthGuard guard(*this, offset);
  auto node = std::make_unique<DictExpr>(offset);
  int h = 0;
  while (!is_op(current(), "}")) {
    if (!node->items.empty()) expect_op(",");
    if (is_op(current(), "}")) break;
    ExprPtr key = parse_expression();
    expect_op(":");
    ExprPtr value = parse_expression();
    h = std::max({h, height(key.get()), height(value.get())});
    node->items.emplace_back(std::move(key), std::move(value));
  }
  expect_op("}");
  return set_height(std::move(node), h + 1);
}

ExprPtr ExpressionParser::parse_postfix(ExprPtr node) {
  while (true) {
    if (is_op(current(), ".") || is_op(current(), "[")) {
      node = parse_subscript(std::move(node));
    } else if (is_op(current(), "(")) {
      node = parse_call(std::move(node));
    } else {
      return node;
    }
  }
}

ExprPtr ExpressionParser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (is_op(current(), "|")) {
      for (FilterCall& f : parse_filter_chain(false)) {
        const uint32_t offset = f.offset;
        auto filter = std::make_unique<FilterExpr>(offset, std::move(node));
        const int h = std::max(height(filter->operand.get()), args_height(f.args));
        filter->filter = std::move(f);
        node = set_height(std::move(filter), h + 1);
      }
    } else if (is_name(current(), "is")) {
      node = parse_test(std::move(node));
    } else if (is_op(current(), "(")) {
      node = parse_call(std::move(node));
    } else {
      return node;
    }
  }
}

ExprPtr ExpressionParser::parse_subscript(ExprPtr node) {
  const Token& t = advance();
  const uint32_t offset = t.offset;
  if (t.text == ".") {
    const Token& attr = current();
    if (attr.type == TokenType::kName) {
      std::string name = advance().text;
      const Expr* o = node.get();
      return finish(std::make_unique<GetAttrExpr>(offset, std::move(node), std::move(name)), {o});
    }
    if (attr.type != TokenType::kInteger) fail_here("expected a name or number after '.'");
    ExprPtr index = set_height(std::make_unique<LiteralExpr>(attr.offset, Value::integer(advance().int_value)), 1);
    const Expr* o = node.get();
    return finish(std::make_unique<GetItemExpr>(offset, std::move(node), std::move(index)), {o});
  }
  DepthGuard guard(*this, offset);
  std::vector<ExprPtr> args;
  while (!is_op(current(), "]")) {
    if (!args.empty()) expect_op(",");
    args.push_back(parse_subscribed());
  }
  expect_op("]");
  if (args.empty()) throw Error(ErrorType::kSyntax, "expected a subscript", offset);
  ExprPtr index;
  if (args.size() == 1) {
    index = std::move(args[0]);
  } else {
    auto tuple = std::make_unique<SequenceExpr>(ExprKind::kTuple, offset);
    int h = 0;
    for (auto& a : args) h = std::max(h, height(a.get()));
    tuple->items = std::move(args);
    index = set_height(std::move(tuple), h + 1);
  }
  const Expr* o = node.get();
  const Expr* i = index.get();
  return finish(std::make_unique<GetItemExpr>(offset, std::move(node), std::move(index)), {o, i});
}

ExprPtr ExpressionParser::parse_subscribed() {
  const uint32_t offset = current().offset;
  ExprPtr start;
  if (!is_op(current(), ":")) {
    start = parse_expression();
    if (!is_op(current(), ":")) return start;
  }
  advance();  // ':'
  auto slice = std::make_unique<SliceExpr>(offset);
  slice->start = std::move(start);
  if (!is_op(current(), "]") && !is_op(current(), ",") && !is_op(current(), ":")) {
    slice->stop = parse_expression();
  }
  if (skip_op(":")) {
    if (!is_op(current(), "]") && !is_op(current(), ",")) slice->step = parse_expression();
  }
  const Expr* a = slice->start.get();
  const Expr* b = slice->stop.get();
  const Expr* c = slice->step.get();
  return finish(std::move(slice), {a, b, c});
}

Arguments ExpressionParser::parse_call_args() {
  DepthGuard guard(*this, current().offset);
  Arguments args;
  expect_op("(");
  while (!is_op(current(), ")")) {
    if (!args.positional.empty() || !args.keyword.empty()) {
      expect_op(",");
      if (is_op(current(), ")")) break;
    }
    if (is_op(current(), "*") || is_op(current(), "**")) {
      fail_here("*args and **kwargs in calls are not supported");
    }
    if (current().type == TokenType::kName && is_op(peek(), "=")) {
      std::string key = advance().text;
      advance();
      for (const auto& [k, v] : args.keyword) {
        if (k == key) fail_here("keyword argument repeated: {}", key);
      }
      args.keyword.emplace_back(std::move(key), parse_expression());
    } else {
      if (!args.keyword.empty()) fail_here("positional argument follows keyword argument");
      args.positional.push_back(parse_expression());
    }
  }
  expect_op(")");
  return args;
}

ExprPtr ExpressionParser::parse_call(ExprPtr callee) {
  const uint32_t offset = current().offset;
  auto node = std::make_unique<CallExpr>(offset, std::move(callee));
  node->args = parse_call_args();
  const int h = std::max(height(node->callee.get()), args_height(node->args));
  return set_height(std::move(node), h + 1);
}

std::vector<FilterCall> ExpressionParser::parse_filter_chain(bool start_inline) {
  std::vector<FilterCall> filters;
  while (is_op(current(), "|") || start_inline) {
    if (!start_inline) advance();
    start_inline = false;
    FilterCall f;
    f.offset = current().offset;
    f.name = expect_name().text;
    while (skip_op(".")) f.name += "." + expect_name().text;
    f.fn = find_filter(f.name);
    if (f.fn == nullptr) throw Error(ErrorType::kSyntax, fmt::format("no filter named '{}'", f.name), f.offset);
    if (is_op(current(), "(")) f.args = parse_call_args();
    filters.push_back(std::move(f));
  }
  return filters;
}

ExprPtr ExpressionParser::parse_test(ExprPtr operand) {
  const uint32_t offset = advance().offset;  // 'is'
  auto node = std::make_unique<TestExpr>(offset, std::move(operand));
  node->negated = skip_name("not");
  const uint32_t name_offset = current().offset;
  node->name = expect_name().text;
  while (skip_op(".")) node->name += "." + expect_name().text;
  node->fn = find_test(node->name);
  if (node->fn == nullptr) {
    throw Error(ErrorType::kSyntax, fmt::format("no test named '{}'", node->name), name_offset);
  }
  const Token& t = current();
  if (is_op(t, "(")) {
    node->args = parse_call_args();
  } else if ((t.type == TokenType::kName || t.type == TokenType::kString || t.type == TokenType::kInteger ||
              t.type == TokenType::kFloat || is_op(t, "[") || is_op(t, "{")) &&
             !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and")) {
    if (is_name(t, "is")) fail_here("you cannot chain multiple tests with 'is'");
    ExprPtr arg = parse_postfix(parse_primary());
    node->args.positional.push_back(std::move(arg));
  }
  const int h = std::max(height(node->operand.get()), args_height(node->args));
  return set_height(std::move(node), h + 1);
}

}  // namespace strata::chat::jinja
