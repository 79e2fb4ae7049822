// Template lexer (see jinja_lexer.h); follows Jinja 3.1's lexer rule by rule.
#include "chat/jinja_lexer.h"

#include <cmath>
#include <cstdlib>

#include "chat/jinja_error.h"
#include "chat/jinja_text.h"

namespace strata::chat::jinja {

namespace {

bool starts_with_at(std::string_view s, size_t pos, std::string_view prefix) {
  return s.size() >= pos && s.substr(pos).substr(0, prefix.size()) == prefix;
}

// Python's \s on text: ASCII whitespace and the Unicode spaces.
size_t skip_space(std::string_view s, size_t pos) {
  while (pos < s.size()) {
    size_t next = pos;
    if (!text::is_space(text::decode(s, next))) break;
    pos = next;
  }
  return pos;
}

std::string_view rstrip_space(std::string_view s) { return text::strip(s, nullptr, false, true); }

bool all_space(std::string_view s) { return skip_space(s, 0) == s.size(); }

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  Lexer(std::string_view src, const LexerOptions& options) : src_(src), options_(options) {}

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < src_.size()) {
      const size_t tag = find_tag(pos);
      if (tag == std::string_view::npos) {
        push_text(pos, src_.substr(pos));
        break;
      }
      const char kind = src_[tag + 1];
      const char sign = (tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+'))
                            ? src_[tag + 2]
                            : 0;
      push_text(pos, strip_before(src_.substr(pos, tag - pos), sign, kind != '{', line_starting));
      size_t after = tag + 2 + (sign != 0 ? 1 : 0);
      if (kind == '#') {
        pos = lex_comment(tag, after);
      } else if (kind == '%' && raw_begin(after, &pos)) {
        line_starting = pos > 0 && src_[pos - 1] == '\n';
        pos = lex_raw(pos, line_starting);
      } else {
        pos = lex_tag(tag, after, kind == '%');
      }
      line_starting = pos > 0 && src_[pos - 1] == '\n';
    }
    Token end;
    end.type = TokenType::kEnd;
    end.offset = static_cast<uint32_t>(src_.size());
    tokens_.push_back(std::move(end));
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t pos) const {
    while (true) {
      pos = src_.find('{', pos);
      if (pos == std::string_view::npos || pos + 1 >= src_.size()) return std::string_view::npos;
      const char c = src_[pos + 1];
      if (c == '{' || c == '%' || c == '#') return pos;
      ++pos;
    }
  }

  // Whitespace control for the text before a tag: '-' strips all trailing whitespace;
  // lstrip_blocks strips spaces between the line start and a block/comment tag.
  std::string_view strip_before(std::string_view text, char sign, bool lstrip_applies,
                                bool line_starting) const {
    if (sign == '-') return rstrip_space(text);
    if (sign == '+' || !options_.lstrip_blocks || !lstrip_applies) return text;
    const size_t newline = text.rfind('\n');
    const size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
    if ((line_start > 0 || line_starting) && all_space(text.substr(line_start))) {
      return text.substr(0, line_start);
    }
    return text;
  }

  void push_text(size_t offset, std::string_view text) {
    if (text.empty()) return;
    Token token;
    token.type = TokenType::kText;
    token.offset = static_cast<uint32_t>(offset);
    token.text = std::string(text);
    tokens_.push_back(std::move(token));
  }

  void push(TokenType type, size_t offset, std::string text = {}) {
    Token token;
    token.type = type;
    token.offset = static_cast<uint32_t>(offset);
    token.text = std::move(text);
    tokens_.push_back(std::move(token));
  }

  // After a block or comment end: trim_blocks removes one newline.
  size_t trim_after(size_t pos) const {
    if (options_.trim_blocks && pos < src_.size() && src_[pos] == '\n') return pos + 1;
    return pos;
  }

  size_t lex_comment(size_t tag, size_t pos) {
    size_t end = pos;
    while (true) {
      end = src_.find("#}", end);
      if (end == std::string_view::npos) {
        fail_at(static_cast<uint32_t>(tag), ErrorType::kSyntax, "missing end of comment tag");
      }
      if (end > pos && src_[end - 1] == '-') return skip_space(src_, end + 2);
      if (end > pos && src_[end - 1] == '+') return end + 2;
      return trim_after(end + 2);
    }
  }

  // `{% raw %}` (with optional -/+): sets *content_start and returns true.
  bool raw_begin(size_t pos, size_t* content_start) const {
    pos = skip_space(src_, pos);
    if (!starts_with_at(src_, pos, "raw")) return false;
    pos = skip_space(src_, pos + 3);
    if (starts_with_at(src_, pos, "-%}")) {
      *content_start = skip_space(src_, pos + 3);
      return true;
    }
    if (starts_with_at(src_, pos, "%}")) {
      *content_start = pos + 2;  // Jinja does not trim_blocks after {% raw %}
      return true;
    }
    return false;
  }

  size_t lex_raw(size_t start, bool line_starting) {
    size_t search = start;
    while (true) {
      const size_t tag = src_.find("{%", search);
      if (tag == std::string_view::npos) {
        fail_at(static_cast<uint32_t>(start), ErrorType::kSyntax, "missing end of raw directive");
      }
      search = tag + 2;
      size_t p = tag + 2;
      char sign = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
      p = skip_space(src_, p);
      if (!starts_with_at(src_, p, "endraw")) continue;
      p = skip_space(src_, p + 6);
      size_t after;
      if (starts_with_at(src_, p, "+%}")) {
        after = p + 3;
      } else if (starts_with_at(src_, p, "-%}")) {
        after = skip_space(src_, p + 3);
      } else if (starts_with_at(src_, p, "%}")) {
        after = trim_after(p + 2);
      } else {
        continue;
      }
      push_text(start, strip_before(src_.substr(start, tag - start), sign, true, line_starting));
      return after;
    }
  }

  size_t lex_tag(size_t tag, size_t pos, bool block) {
    push(block ? TokenType::kBlockBegin : TokenType::kVariableBegin, tag);
    std::string brackets;  // closers expected, innermost last
    while (true) {
      if (pos >= src_.size()) {
        fail_at(static_cast<uint32_t>(tag), ErrorType::kSyntax, "unexpected end of template: '{}' is never closed",
                block ? "{%" : "{{");
      }
      if (brackets.empty()) {
        if (block) {
          if (starts_with_at(src_, pos, "+%}")) {
            push(TokenType::kBlockEnd, pos);
            return pos + 3;
          }
          if (starts_with_at(src_, pos, "-%}")) {
            push(TokenType::kBlockEnd, pos);
            return skip_space(src_, pos + 3);
          }
          if (starts_with_at(src_, pos, "%}")) {
            push(TokenType::kBlockEnd, pos);
            return trim_after(pos + 2);
          }
        } else {
          if (starts_with_at(src_, pos, "-}}")) {
            push(TokenType::kVariableEnd, pos);
            return skip_space(src_, pos + 3);
          }
          if (starts_with_at(src_, pos, "}}")) {
            push(TokenType::kVariableEnd, pos);
            return pos + 2;
          }
        }
      }
      const size_t spaced = skip_space(src_, pos);
      if (spaced != pos) {
        pos = spaced;
        continue;
      }
      const char c = src_[pos];
      if (is_digit(c)) {
        pos = lex_number(pos);
      } else if (is_name_start(c)) {
        size_t end = pos;
        while (end < src_.size() && is_name_char(src_[end])) ++end;
        push(TokenType::kName, pos, std::string(src_.substr(pos, end - pos)));
        pos = end;
      } else if (c == '\'' || c == '"') {
        pos = lex_string(pos);
      } else {
        pos = lex_operator(pos, brackets);
      }
    }
  }

  size_t lex_number(size_t start) {
    // Digits with optional single underscores between them.
    auto digits = [&](size_t p) {
      if (p >= src_.size() || !is_digit(src_[p])) return p;
      while (p < src_.size()) {
        if (is_digit(src_[p])) {
          ++p;
        } else if (src_[p] == '_' && p + 1 < src_.size() && is_digit(src_[p + 1])) {
          ++p;
        } else {
          break;
        }
      }
      return p;
    };
    // Hex, octal and binary integers.
    if (src_[start] == '0' && start + 1 < src_.size() &&
        std::string_view("xXoObB").find(src_[start + 1]) != std::string_view::npos) {
      const char base_char = static_cast<char>(src_[start + 1] | 0x20);
      const int base = base_char == 'x' ? 16 : (base_char == 'o' ? 8 : 2);
      size_t p = start + 2;
      uint64_t value = 0;
      bool any = false;
      while (p < src_.size()) {
        if (src_[p] == '_') {
          ++p;
          continue;
        }
        const int d = hex_value(src_[p]);
        if (d < 0 || d >= base) break;
        if (value > (static_cast<uint64_t>(INT64_MAX) - d) / base) {
          fail_at(static_cast<uint32_t>(start), ErrorType::kSyntax, "integer literal too large");
        }
        value = value * base + d;
        any = true;
        ++p;
      }
      if (any) {
        push(TokenType::kInteger, start);
        tokens_.back().int_value = static_cast<int64_t>(value);
        return p;
      }
    }
    size_t p = digits(start);
    bool is_float = false;
    const bool after_dot = start > 0 && src_[start - 1] == '.';
    if (!after_dot) {
      size_t q = p;
      if (q + 1 < src_.size() && src_[q] == '.' && is_digit(src_[q + 1])) {
        q = digits(q + 1);
        is_float = true;
      }
      if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
        size_t r = q + 1;
        if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) ++r;
        const size_t e_end = digits(r);
        if (e_end > r) {
          q = e_end;
          is_float = true;
        }
      }
      if (is_float) p = q;
    }
    std::string literal;
    for (size_t i = start; i < p; ++i) {
      if (src_[i] != '_') literal.push_back(src_[i]);
    }
    if (is_float) {
      push(TokenType::kFloat, start, literal);
      tokens_.back().float_value = std::strtod(literal.c_str(), nullptr);
    } else {
      uint64_t value = 0;
      for (char d : literal) {
        if (value > (static_cast<uint64_t>(INT64_MAX) - (d - '0')) / 10) {
          fail_at(static_cast<uint32_t>(start), ErrorType::kSyntax,
                  "integer literal {} is too large (at most {})", literal, INT64_MAX);
        }
        value = value * 10 + (d - '0');
      }
      push(TokenType::kInteger, start, literal);
      tokens_.back().int_value = static_cast<int64_t>(value);
    }
    return p;
  }

  size_t lex_string(size_t start) {
    const char quote = src_[start];
    std::string value;
    size_t p = start + 1;
    while (true) {
      if (p >= src_.size()) {
        fail_at(static_cast<uint32_t>(start), ErrorType::kSyntax, "unterminated string literal");
      }
      const char c = src_[p];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++p;
        continue;
      }
      if (p + 1 >= src_.size()) {
        fail_at(static_cast<uint32_t>(start), ErrorType::kSyntax, "unterminated string literal");
      }
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case '\n': break;
        case '\\': value.push_back('\\'); break;
        case '\'': value.push_back('\''); break;
        case '"': value.push_back('"'); break;
        case 'a': value.push_back('\a'); break;
        case 'b': value.push_back('\b'); break;
        case 'f': value.push_back('\f'); break;
        case 'n': value.push_back('\n'); break;
        case 'r': value.push_back('\r'); break;
        case 't': value.push_back('\t'); break;
        case 'v': value.push_back('\v'); break;
        case 'x':
        case 'u':
        case 'U': {
          const int n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          uint32_t cp = 0;
          for (int i = 0; i < n; ++i) {
            const int d = p + i < src_.size() ? hex_value(src_[p + i]) : -1;
            if (d < 0) {
              fail_at(static_cast<uint32_t>(p - 2), ErrorType::kSyntax, "truncated \\{}{} escape in string literal",
                      e, std::string(n, 'X'));
            }
            cp = cp * 16 + d;
          }
          p += n;
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
          text::append_utf8(value, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = e - '0';
            for (int i = 0; i < 2 && p < src_.size() && src_[p] >= '0' && src_[p] <= '7'; ++i) {
              cp = cp * 8 + (src_[p++] - '0');
            }
            text::append_utf8(value, cp);
          } else {
            // Unknown escapes stay as written, as in Python.
            value.push_back('\\');
            value.push_back(e);
          }
      }
    }
    push(TokenType::kString, start, std::move(value));
    return p + 1;
  }

  size_t lex_operator(size_t pos, std::string& brackets) {
    static constexpr std::string_view kTwo[] = {"**", "//", "==", "!=", ">=", "<="};
    for (std::string_view op : kTwo) {
      if (starts_with_at(src_, pos, op)) {
        push(TokenType::kOperator, pos, std::string(op));
        return pos + 2;
      }
    }
    const char c = src_[pos];
    if (std::string_view("+-*/%~[](){}><=.:|,;").find(c) == std::string_view::npos) {
      size_t next = pos;
      const char32_t cp = text::decode(src_, next);
      std::string shown;
      text::append_utf8(shown, cp);
      fail_at(static_cast<uint32_t>(pos), ErrorType::kSyntax, "unexpected character '{}'", shown);
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets.push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
      if (brackets.size() > 1000) {
        fail_at(static_cast<uint32_t>(pos), ErrorType::kSyntax, "brackets nested too deeply");
      }
    } else if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty()) fail_at(static_cast<uint32_t>(pos), ErrorType::kSyntax, "unexpected '{}'", c);
      if (brackets.back() != c) {
        fail_at(static_cast<uint32_t>(pos), ErrorType::kSyntax, "unexpected '{}', expected '{}'", c,
                brackets.back());
      }
      brackets.pop_back();
    }
    push(TokenType::kOperator, pos, std::string(1, c));
    return pos + 1;
  }

  std::string_view src_;
  LexerOptions options_;
  std::vector<Token> tokens_;
};

}  // namespace

std::string normalize_source(std::string_view source, bool keep_trailing_newline) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::vector<Token> tokenize(std::string_view source, const LexerOptions& options) {
  return Lexer(source, options).run();
}

SourcePosition position_of(std::string_view source, uint32_t offset) {
  SourcePosition p;
  const size_t end = std::min<size_t>(offset, source.size());
  size_t line_start = 0;
  for (size_t i = 0; i < end; ++i) {
    if (source[i] == '\n') {
      ++p.line;
      line_start = i + 1;
    }
  }
  p.column = static_cast<int>(text::length(source.substr(line_start, end - line_start))) + 1;
  return p;
}

}  // namespace strata::chat::jinja
