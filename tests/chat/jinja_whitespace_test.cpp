// Whitespace control and lexing: trim_blocks, lstrip_blocks, -/+ modifiers, comments, raw,
// newline normalization, string and number literals (expected values checked against Jinja2).
#include <gtest/gtest.h>

#include "jinja_test_util.h"

namespace strata::chat::testing {
namespace {

TEST(JinjaWhitespace, TrimBlocksDropsOneNewlineAfterBlockTags) {
  EXPECT_EQ(render("{% if true %}\nA\n{% endif %}\nB"), "A\nB");
  EXPECT_EQ(render("{% if true %}\n\nA{% endif %}"), "\nA");
  // Not after expressions.
  EXPECT_EQ(render("{{ 'x' }}\ny"), "x\ny");
}

TEST(JinjaWhitespace, LstripBlocksStripsIndentBeforeBlockTagsOnly) {
  EXPECT_EQ(render("  {% if true %}\n    a\n  {% endif %}\n  {{ 'b' }}\n  {# c #}\n  d"), "    a\n  b\n  d");
  // Text before the tag on the same line keeps its spaces.
  EXPECT_EQ(render("x  {% if true %}y{% endif %}"), "x  y");
  // At the very start of the template.
  EXPECT_EQ(render("   {% if true %}z{% endif %}"), "z");
  // Tabs count as indentation.
  EXPECT_EQ(render("\t{% if true %}z{% endif %}"), "z");
}

TEST(JinjaWhitespace, MinusStripsAllWhitespaceIncludingNewlines) {
  EXPECT_EQ(render("a  \n\n  {%- if true -%}  \n\n  b  {{- 'c' -}}  \n d {%- endif %}"), "abcd");
  EXPECT_EQ(render("x \n {#- comment -#} \n y"), "xy");
  EXPECT_EQ(render("1\n{{- 2 }}"), "12");
}

TEST(JinjaWhitespace, PlusDisablesLstripAndTrim) {
  EXPECT_EQ(render("{%+ if true %}x{% endif +%}\ny"), "x\ny");
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");
}

TEST(JinjaWhitespace, CommentsAndTrimming) {
  EXPECT_EQ(render("a{# note #}b"), "ab");
  EXPECT_EQ(render("a\n{# note #}\nb"), "a\nb");
  EXPECT_EQ(render("a{# multi\nline {{ not parsed }} #}b"), "ab");
}

TEST(JinjaWhitespace, RawBlocksKeepTagsAsText) {
  EXPECT_EQ(render("{% raw %}\n  {{ x }}\n{% endraw %}\nx"), "\n  {{ x }}\nx");
  EXPECT_EQ(render("{%- raw -%}  {% if %}  {%- endraw %}"), "{% if %}");
}

TEST(JinjaWhitespace, NewlinesAreNormalizedAndOneTrailingNewlineDropped) {
  EXPECT_EQ(render("a\r\nb\rc\n"), "a\nb\nc");
  EXPECT_EQ(render("a\n\n"), "a\n");
  EXPECT_EQ(render("{% if true %}\r\nx{% endif %}"), "x");
}

TEST(JinjaWhitespace, LoopBodiesFromATypicalIndentedTemplate) {
  const char* source =
      "{% for m in messages %}\n"
      "    {{ m.role }}\n"
      "    {% if m.role == 'user' %}\n"
      "        U\n"
      "    {% endif %}\n"
      "{% endfor %}\n"
      "end";
  Json vars = {{"messages", Json::parse(R"([{"role":"user"},{"role":"assistant"}])")}};
  EXPECT_EQ(render(source, vars), "    user\n        U\n    assistant\nend");
}

TEST(JinjaWhitespace, UnicodeWhitespaceIsWhitespace) {
  // U+3000 and U+00A0 are Python whitespace, so '-' strips them too.
  EXPECT_EQ(render("a\u3000\u00a0{{- 'b' }}"), "ab");
}

TEST(JinjaLexer, StringLiteralEscapes) {
  EXPECT_EQ(render(R"({{ "q\"uote" }}|{{ 'it\'s' }}|{{ 'a\tb' }}|{{ '\x41\u00e9\U0001F600' }}|{{ '\d' }})"),
            "q\"uote|it's|a\tb|A\u00e9\U0001F600|\\d");
  EXPECT_EQ(render("{{ \"line1\\nline2\" }}"), "line1\nline2");
  // A backslash before a newline continues the string (as Python's unicode-escape does).
  EXPECT_EQ(render("{{ 'a\\\nb' }}"), "ab");
  // Adjacent literals join.
  EXPECT_EQ(render("{{ 'a' \"b\" 'c' }}"), "abc");
}

TEST(JinjaLexer, NumberLiterals) {
  EXPECT_EQ(render("{{ 1_000 }} {{ 0x1f }} {{ 0b101 }} {{ 0o17 }} {{ 1.5e3 }} {{ 2e-3 }} {{ 1.0 }}"),
            "1000 31 5 15 1500.0 0.002 1.0");
  EXPECT_EQ(render("{{ [10, 20].1 }}"), "20");
}

TEST(JinjaLexer, BracesInsideExpressionsDoNotEndTheTag) {
  EXPECT_EQ(render("{{ {'a': {'b': 1}} }}"), "{'a': {'b': 1}}");
  EXPECT_EQ(render("{{ '}}' }}"), "}}");
  EXPECT_EQ(render("{% set x = '%}' %}{{ x }}"), "%}");
}

TEST(JinjaLexer, SyntaxErrorsCarryLineAndColumn) {
  EXPECT_EQ(render_error("ab\n  {{ 'x' + }}"), "TemplateSyntaxError at 2:12: unexpected 'end of print statement'");
  EXPECT_EQ(render_error("{{ 'unterminated }}"), "TemplateSyntaxError at 1:4: unterminated string literal");
  EXPECT_EQ(render_error("x\n{# open"), "TemplateSyntaxError at 2:1: missing end of comment tag");
  EXPECT_EQ(render_error("{{ a ) }}"), "TemplateSyntaxError at 1:6: unexpected ')'");
  EXPECT_EQ(render_error("{{ 'a' $ }}"), "TemplateSyntaxError at 1:8: unexpected character '$'");
  EXPECT_EQ(render_error("{{ 99999999999999999999 }}"),
            "TemplateSyntaxError at 1:4: integer literal 99999999999999999999 is too large (at most 9223372036854775807)");
  // Columns count characters, not bytes.
  EXPECT_EQ(render_error("é {{ ) }}"), "TemplateSyntaxError at 1:6: unexpected ')'");
}

TEST(JinjaLexer, UnclosedBlocksNameWhatIsMissing) {
  EXPECT_EQ(render_error("{% if true %}x"),
            "TemplateSyntaxError at 1:15: unexpected end of template: expected 'elif', 'else' or 'endif' to close the "
            "'if' opened at 1:4");
  EXPECT_EQ(render_error("{% for x in y %}{% endif %}"),
            "TemplateSyntaxError at 1:20: encountered unknown tag 'endif'; expected 'endfor' or 'else' to close 'for'");
  EXPECT_EQ(render_error("{% frobnicate %}"), "TemplateSyntaxError at 1:4: encountered unknown tag 'frobnicate'");
  EXPECT_EQ(render_error("{% include 'x' %}"),
            "TemplateSyntaxError at 1:4: the 'include' tag is not supported in chat templates");
  EXPECT_EQ(render_error("{% break %}"), "TemplateSyntaxError at 1:4: 'break' outside of a for loop");
  EXPECT_EQ(render_error("{{ x | nosuchfilter }}"), "TemplateSyntaxError at 1:8: no filter named 'nosuchfilter'");
  EXPECT_EQ(render_error("{{ x is nosuchtest }}"), "TemplateSyntaxError at 1:9: no test named 'nosuchtest'");
}

}  // namespace
}  // namespace strata::chat::testing
