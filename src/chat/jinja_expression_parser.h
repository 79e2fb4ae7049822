// Parses template expressions (Jinja 3.1's grammar and precedence); the statement parser in
// jinja_parser.cpp builds on it.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_error.h"
#include "chat/jinja_lexer.h"
#include "chat/jinja_parser.h"

namespace strata::chat::jinja {

// Expression trees are kept at most max_depth high (Expr::height), so that left-deep chains
// like a+a+a+... are bounded as well as nesting through brackets.
class ExpressionParser {
 public:
  ExpressionParser(std::vector<Token> tokens, const ParseOptions& options)
      : tokens_(std::move(tokens)), options_(options) {}

 protected:
  // --- token stream ---

  const Token& current() const { return tokens_[pos_]; }
  const Token& peek(size_t ahead = 1) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  const Token& advance() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool is_op(const Token& t, std::string_view op) const {
    return t.type == TokenType::kOperator && t.text == op;
  }
  bool is_name(const Token& t, std::string_view name) const {
    return t.type == TokenType::kName && t.text == name;
  }
  bool skip_op(std::string_view op) {
    if (!is_op(current(), op)) return false;
    advance();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(current(), name)) return false;
    advance();
    return true;
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case TokenType::kText: return "template data";
      case TokenType::kVariableBegin: return "begin of print statement";
      case TokenType::kVariableEnd: return "end of print statement";
      case TokenType::kBlockBegin: return "begin of statement block";
      case TokenType::kBlockEnd: return "end of statement block";
      case TokenType::kEnd: return "end of template";
      case TokenType::kString: return "string";
      case TokenType::kInteger: return "integer";
      case TokenType::kFloat: return "float";
      default: return t.text;
    }
  }

  template <typename... Args>
  [[noreturn]] void fail_here(fmt::format_string<Args...> format, Args&&... args) {
    throw Error(ErrorType::kSyntax, fmt::format(format, std::forward<Args>(args)...), current().offset);
  }

  void expect_op(std::string_view op) {
    if (!skip_op(op)) fail_here("expected '{}', got '{}'", op, describe(current()));
  }
  const Token& expect_name() {
    if (current().type != TokenType::kName) fail_here("expected a name, got '{}'", describe(current()));
    return advance();
  }
  void expect_block_end() {
    if (current().type != TokenType::kBlockEnd) {
      fail_here("expected end of statement block, got '{}'", describe(current()));
    }
    advance();
  }

  // --- depth accounting ---

  struct DepthGuard {
    DepthGuard(ExpressionParser& p, uint32_t offset) : parser(p) {
      if (++parser.depth_ > parser.options_.max_depth) {
        throw Error(ErrorType::kSyntax,
                    fmt::format("template nested too deeply (more than {} levels)", parser.options_.max_depth),
                    offset);
      }
    }
    ~DepthGuard() { --parser.depth_; }
    ExpressionParser& parser;
  };

  // Records the height of a new node from its children; fails past max_depth.
  ExprPtr finish(ExprPtr node, std::initializer_list<const Expr*> children) {
    int h = 0;
    for (const Expr* c : children) {
      if (c != nullptr) h = std::max(h, height(c));
    }
    return set_height(std::move(node), h + 1);
  }
  ExprPtr set_height(ExprPtr node, int h) {
    if (h > options_.max_depth) {
      throw Error(ErrorType::kSyntax,
                  fmt::format("expression nested too deeply (more than {} levels)", options_.max_depth),
                  node->offset);
    }
    node->height = h;
    return node;
  }
  static int height(const Expr* e) { return e->height; }
  int args_height(const Arguments& args) const {
    int h = 0;
    for (const auto& a : args.positional) h = std::max(h, height(a.get()));
    for (const auto& [k, a] : args.keyword) h = std::max(h, height(a.get()));
    return h;
  }
  // --- expressions ---

  bool is_tuple_end(const std::vector<std::string_view>& extra_end) const;
  ExprPtr parse_tuple(bool with_condexpr, bool explicit_parens, std::vector<std::string_view> extra_end);
  ExprPtr parse_expression();
  ExprPtr parse_or();
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr node);
  std::vector<FilterCall> parse_filter_chain(bool start_inline);

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  ParseOptions options_;
  int depth_ = 0;

 private:
  ExprPtr parse_condexpr();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr make_binary(BinaryOp op, uint32_t offset, ExprPtr left, ExprPtr right);
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_filter_expr(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr node);
  ExprPtr parse_subscribed();
  Arguments parse_call_args();
  ExprPtr parse_call(ExprPtr callee);
  ExprPtr parse_test(ExprPtr operand);
};

}  // namespace strata::chat::jinja
