// Builds the syntax tree of a template from its tokens (Jinja 3.1's grammar and precedence).
#pragma once

#include <memory>
#include <string_view>

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"

namespace strata::chat::jinja {

struct ParseOptions {
  LexerOptions lexer;
  bool keep_trailing_newline = false;
  // Deepest nesting of blocks, brackets and expression trees; bounds the recursion of the
  // parser and of the interpreter, so hostile templates fail instead of exhausting the stack.
  int max_depth = 128;
};

// Throws jinja::Error (TemplateSyntaxError) with the offset of the offending token.
std::unique_ptr<Program> parse_program(std::string_view source, const ParseOptions& options);

}  // namespace strata::chat::jinja
