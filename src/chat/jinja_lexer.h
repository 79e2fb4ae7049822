// Splits template source into text and the tokens inside {{ }}, {% %}; applies Jinja's
// whitespace control (-, +, trim_blocks, lstrip_blocks) and drops comments.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace strata::chat::jinja {

enum class TokenType : uint8_t {
  kText, kVariableBegin, kVariableEnd, kBlockBegin, kBlockEnd,
  kName, kString, kInteger, kFloat, kOperator, kEnd,
};

struct Token {
  TokenType type = TokenType::kEnd;
  uint32_t offset = 0;  // into the normalized source
  std::string text;     // text, name, decoded string literal or operator
  int64_t int_value = 0;
  double float_value = 0.0;
};

struct LexerOptions {
  bool trim_blocks = true;    // drop the first newline after a block or comment tag
  bool lstrip_blocks = true;  // drop spaces and tabs before a block or comment tag on its line
};

// Converts \r\n and \r to \n and, unless keep_trailing_newline, drops one final newline,
// as Jinja does before lexing. Offsets everywhere refer to this normalized text.
std::string normalize_source(std::string_view source, bool keep_trailing_newline);

// Throws jinja::Error (TemplateSyntaxError) for unterminated tags, strings and comments.
std::vector<Token> tokenize(std::string_view source, const LexerOptions& options);

// 1-based line and column (in characters) of a byte offset of `source`.
struct SourcePosition {
  int line = 1;
  int column = 1;
};
SourcePosition position_of(std::string_view source, uint32_t offset);

}  // namespace strata::chat::jinja
