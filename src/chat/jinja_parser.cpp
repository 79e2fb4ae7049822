// Template parser (see jinja_parser.h): statements and blocks; expressions are parsed by
// jinja_expression_parser.cpp.
#include "chat/jinja_parser.h"

#include <algorithm>

#include "chat/jinja_error.h"
#include "chat/jinja_expression_parser.h"

namespace strata::chat::jinja {

namespace {

class Parser : public ExpressionParser {
 public:
  Parser(std::string_view source, std::vector<Token> tokens, const ParseOptions& options)
      : ExpressionParser(std::move(tokens), options), source_(source) {}

  Body parse_template() {
    Body body = parse_body({});
    if (current().type != TokenType::kEnd) fail_here("unexpected '{}'", describe(current()));
    return body;
  }

 private:
  // --- statements ---

  // Parses until a block tag whose name is one of `end_names` (left as the current token).
  Body parse_body(std::vector<std::string_view> end_names) {
    DepthGuard guard(*this, current().offset);
    Body body;
    while (true) {
      const Token& t = current();
      switch (t.type) {
        case TokenType::kText:
          body.push_back(std::make_unique<TextStmt>(t.offset, t.text));
          advance();
          break;
        case TokenType::kVariableBegin: {
          const uint32_t offset = t.offset;
          advance();
          ExprPtr e = parse_tuple(true, false, {});
          if (current().type != TokenType::kVariableEnd) {
            fail_here("expected end of print statement, got '{}'", describe(current()));
          }
          advance();
          body.push_back(std::make_unique<EmitStmt>(offset, std::move(e)));
          break;
        }
        case TokenType::kBlockBegin: {
          const Token& name = peek();
          if (name.type == TokenType::kName &&
              std::find(end_names.begin(), end_names.end(), name.text) != end_names.end()) {
            advance();  // leave the name current
            return body;
          }
          advance();
          body.push_back(parse_statement(end_names));
          break;
        }
        case TokenType::kEnd:
          if (!end_names.empty()) {
            const SourcePosition opened = position_of(source_, open_blocks_.back().second);
            fail_here("unexpected end of template: expected {} to close the '{}' opened at {}:{}",
                      looking_for(end_names), open_blocks_.back().first, opened.line, opened.column);
          }
          return body;
        default:
          fail_here("unexpected '{}'", describe(t));
      }
    }
  }

  static std::string looking_for(const std::vector<std::string_view>& names) {
    std::string s;
    for (size_t i = 0; i < names.size(); ++i) {
      if (i > 0) s += i + 1 == names.size() ? " or " : ", ";
      s += fmt::format("'{}'", names[i]);
    }
    return s;
  }

  struct OpenBlock {
    OpenBlock(Parser& p, std::string_view name, uint32_t offset) : parser(p) {
      parser.open_blocks_.emplace_back(std::string(name), offset);
    }
    ~OpenBlock() { parser.open_blocks_.pop_back(); }
    Parser& parser;
  };

  StmtPtr parse_statement(const std::vector<std::string_view>& enclosing_end) {
    const Token& name_token = current();
    if (name_token.type != TokenType::kName) fail_here("tag name expected");
    const std::string name = name_token.text;
    const uint32_t offset = name_token.offset;
    if (name == "if") return parse_if();
    if (name == "for") return parse_for();
    if (name == "set") return parse_set();
    if (name == "macro") return parse_macro();
    if (name == "call") return parse_call_block();
    if (name == "filter") return parse_filter_block();
    if (name == "with") return parse_with();
    if (name == "generation") {
      advance();
      auto node = std::make_unique<ScopeStmt>(offset);
      node->body = parse_block_body(name, offset, {"endgeneration"});
      return node;
    }
    if (name == "break" || name == "continue") {
      advance();
      if (loop_depth_ == 0) {
        throw Error(ErrorType::kSyntax, fmt::format("'{}' outside of a for loop", name), offset);
      }
      expect_block_end();
      return std::make_unique<LoopControlStmt>(name == "break" ? StmtKind::kBreak : StmtKind::kContinue,
                                               offset);
    }
    if (name == "do") {
      advance();
      auto node = std::make_unique<DoStmt>(offset, parse_tuple(true, false, {}));
      expect_block_end();
      return node;
    }
    if (name == "include" || name == "import" || name == "from" || name == "extends" ||
        name == "block" || name == "autoescape") {
      throw Error(ErrorType::kSyntax,
                  fmt::format("the '{}' tag is not supported in chat templates", name), offset);
    }
    std::string message = fmt::format("encountered unknown tag '{}'", name);
    if (!enclosing_end.empty()) {
      message += fmt::format("; expected {} to close '{}'", looking_for(enclosing_end), open_blocks_.back().first);
    }
    throw Error(ErrorType::kSyntax, message, offset);
  }

  // Header already parsed up to its block end; parses the body and the end tag.
  Body parse_block_body(std::string_view block, uint32_t offset, std::vector<std::string_view> end) {
    expect_block_end();
    OpenBlock open(*this, block, offset);
    Body body = parse_body(end);
    advance();  // the end tag's name
    expect_block_end();
    return body;
  }

  StmtPtr parse_if() {
    auto node = std::make_unique<IfStmt>(advance().offset);
    OpenBlock open(*this, "if", node->offset);
    ExprPtr condition = parse_tuple(false, false, {});
    while (true) {
      expect_block_end();
      Body body = parse_body({"elif", "else", "endif"});
      node->branches.emplace_back(std::move(condition), std::move(body));
      const std::string tag = advance().text;
      if (tag == "elif") {
        condition = parse_tuple(false, false, {});
        continue;
      }
      if (tag == "else") {
        expect_block_end();
        node->else_body = parse_body({"endif"});
        advance();
      }
      expect_block_end();
      return node;
    }
  }

  StmtPtr parse_for() {
    auto node = std::make_unique<ForStmt>(advance().offset);
    OpenBlock open(*this, "for", node->offset);
    node->target = parse_assign_target(false, {"in"});
    if (!skip_name("in")) fail_here("expected 'in', got '{}'", describe(current()));
    node->iterable = parse_tuple(false, false, {"recursive"});
    if (skip_name("if")) node->filter = parse_expression();
    if (is_name(current(), "recursive")) fail_here("recursive for loops are not supported");
    expect_block_end();
    ++loop_depth_;
    node->body = parse_body({"endfor", "else"});
    --loop_depth_;
    if (advance().text == "else") {
      expect_block_end();
      node->else_body = parse_body({"endfor"});
      advance();
    }
    expect_block_end();
    return node;
  }

  StmtPtr parse_set() {
    const uint32_t offset = advance().offset;
    Target target = parse_assign_target(true, {});
    if (skip_op("=")) {
      auto node = std::make_unique<SetStmt>(offset);
      node->target = std::move(target);
      node->value = parse_tuple(true, false, {});
      expect_block_end();
      return node;
    }
    auto node = std::make_unique<SetBlockStmt>(offset);
    node->target = std::move(target);
    if (is_op(current(), "|")) node->filters = parse_filter_chain(false);
    node->body = parse_block_body("set", offset, {"endset"});
    return node;
  }

  Target parse_assign_target(bool with_namespace, std::vector<std::string_view> extra_end) {
    Target target;
    target.offset = current().offset;
    if (with_namespace && current().type == TokenType::kName && is_op(peek(), ".")) {
      target.kind = Target::Kind::kAttribute;
      target.name = advance().text;
      advance();
      target.attribute = expect_name().text;
      return target;
    }
    const bool parenthesized = skip_op("(");
    std::vector<std::string> names;
    bool is_tuple = parenthesized;
    while (true) {
      if (!names.empty()) {
        if (!skip_op(",")) break;
        is_tuple = true;
      }
      if (is_op(current(), ")") || current().type == TokenType::kBlockEnd ||
          (current().type == TokenType::kName &&
           std::find(extra_end.begin(), extra_end.end(), current().text) != extra_end.end())) {
        break;
      }
      if (current().type != TokenType::kName) fail_here("can't assign to '{}'", describe(current()));
      names.push_back(advance().text);
    }
    if (parenthesized) expect_op(")");
    if (names.empty()) fail_here("expected an assignment target");
    for (const auto& n : names) {
      if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" || n == "None") {
        throw Error(ErrorType::kSyntax, fmt::format("can't assign to constant '{}'", n), target.offset);
      }
    }
    if (is_tuple) {
      target.kind = Target::Kind::kTuple;
      target.names = std::move(names);
    } else {
      target.name = std::move(names[0]);
    }
    return target;
  }

  std::vector<Parameter> parse_signature() {
    std::vector<Parameter> params;
    expect_op("(");
    while (!is_op(current(), ")")) {
      if (!params.empty()) expect_op(",");
      if (is_op(current(), ")")) break;
      Parameter p;
      p.name = expect_name().text;
      if (skip_op("=")) {
        p.default_value = parse_expression();
      } else if (!params.empty() && params.back().default_value != nullptr) {
        fail_here("non-default argument follows default argument");
      }
      params.push_back(std::move(p));
    }
    expect_op(")");
    return params;
  }

  StmtPtr parse_macro() {
    auto node = std::make_unique<MacroStmt>(advance().offset);
    node->name = expect_name().text;
    node->params = parse_signature();
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    node->body = parse_block_body("macro", node->offset, {"endmacro"});
    loop_depth_ = saved_loops;
    return node;
  }

  StmtPtr parse_call_block() {
    auto node = std::make_unique<CallBlockStmt>(advance().offset);
    if (is_op(current(), "(")) node->caller_params = parse_signature();
    ExprPtr call = parse_expression();
    if (call->kind != ExprKind::kCall) {
      throw Error(ErrorType::kSyntax, "expected a call after 'call'", call->offset);
    }
    node->call.reset(static_cast<CallExpr*>(call.release()));
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    node->body = parse_block_body("call", node->offset, {"endcall"});
    loop_depth_ = saved_loops;
    return node;
  }

  StmtPtr parse_filter_block() {
    auto node = std::make_unique<FilterBlockStmt>(advance().offset);
    node->filters = parse_filter_chain(true);
    node->body = parse_block_body("filter", node->offset, {"endfilter"});
    return node;
  }

  StmtPtr parse_with() {
    auto node = std::make_unique<WithStmt>(advance().offset);
    while (current().type != TokenType::kBlockEnd) {
      if (!node->assignments.empty()) expect_op(",");
      Target target = parse_assign_target(false, {});
      expect_op("=");
      node->assignments.emplace_back(std::move(target), parse_expression());
    }
    node->body = parse_block_body("with", node->offset, {"endwith"});
    return node;
  }

  std::string_view source_;
  int loop_depth_ = 0;
  std::vector<std::pair<std::string, uint32_t>> open_blocks_;
};

}  // namespace

std::unique_ptr<Program> parse_program(std::string_view source, const ParseOptions& options) {
  auto program = std::make_unique<Program>();
  program->source = normalize_source(source, options.keep_trailing_newline);
  Parser parser(program->source, tokenize(program->source, options.lexer), options);
  program->body = parser.parse_template();
  return program;
}

}  // namespace strata::chat::jinja
