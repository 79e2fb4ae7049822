// Statements: if/elif/else, for (loop variables, else, filters, unpacking, break/continue),
// set (namespace attributes, blocks, tuples), macro/call, filter, with, generation, do, and
// Jinja's scoping rules (checked against Jinja2).
#include <gtest/gtest.h>

#include "jinja_test_util.h"

namespace strata::chat::testing {
namespace {

TEST(JinjaStatement, IfElifElse) {
  const char* source = "{% if n == 1 %}one{% elif n == 2 %}two{% elif n == 3 %}three{% else %}many{% endif %}";
  EXPECT_EQ(render(source, {{"n", 1}}), "one");
  EXPECT_EQ(render(source, {{"n", 3}}), "three");
  EXPECT_EQ(render(source, {{"n", 9}}), "many");
  EXPECT_EQ(render("{% if [] %}a{% elif {} %}b{% elif '' %}c{% elif 0.0 %}d{% else %}e{% endif %}"), "e");
}

TEST(JinjaStatement, ForLoopVariables) {
  EXPECT_EQ(render("{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }} {% endfor %}"),
            "1032TrueFalse3 2121FalseFalse3 3210FalseTrue3 ");
  EXPECT_EQ(render("{% for x in [1,2,3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}|{% endfor %}"),
            "<1>2|1<2>3|2<3>|");
  EXPECT_EQ(render("{% for x in range(5) %}{{ loop.cycle('a','b') }}{% endfor %}"), "ababa");
  EXPECT_EQ(render("{% for x in [1,1,2,2,1] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}"), "121");
  EXPECT_EQ(render("{% for x in [1] %}{{ loop.depth }}{{ loop.depth0 }}{% endfor %}"), "10");
}

TEST(JinjaStatement, ForElseFiltersAndUnpacking) {
  EXPECT_EQ(render("{% for x in [] %}a{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in [1,2,3] if x > 1 %}{{ loop.index }}/{{ loop.length }}:{{ x }} {% endfor %}"),
            "1/2:2 2/2:3 ");
  EXPECT_EQ(render("{% for x in [1] if x > 5 %}a{% else %}none passed{% endfor %}"), "none passed");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}"), "a=1;b=2;");
  EXPECT_EQ(render("{% for (a, b) in [[1, 2], [3, 4]] %}{{ a * b }},{% endfor %}"), "2,12,");
  EXPECT_EQ(render("{% for k in {'x': 1, 'y': 2} %}{{ k }}{% endfor %}{% for c in 'héy' %}[{{ c }}]{% endfor %}"),
            "xy[h][é][y]");
  EXPECT_EQ(render("{% for x in [3,1,2]|sort %}{{ x }}{% endfor %}"), "123");
  EXPECT_EQ(render_error("{% for a, b in [[1, 2, 3]] %}{% endfor %}"),
            "ValueError at 1:4: too many values to unpack (expected 2)");
  EXPECT_EQ(render_error("{% for c in none %}{% endfor %}"), "TypeError at 1:4: 'NoneType' object is not iterable");
}

TEST(JinjaStatement, BreakAndContinue) {
  EXPECT_EQ(render("{% for x in range(10) %}{% if x == 3 %}{% break %}{% endif %}{{ x }}{% endfor %}"), "012");
  EXPECT_EQ(render("{% for x in range(5) %}{% if x is odd %}{% continue %}{% endif %}{{ x }}{% endfor %}"), "024");
  // break only leaves the innermost loop.
  EXPECT_EQ(render("{% for i in [1,2] %}{% for j in [1,2,3] %}{% if j == 2 %}{% break %}{% endif %}{{ i }}{{ j }} "
                   "{% endfor %}{% endfor %}"),
            "11 21 ");
}

TEST(JinjaStatement, LoopBodiesAreScopes) {
  // Each iteration starts from the outer value; nothing leaks out of the loop.
  EXPECT_EQ(render("{% set x = 1 %}{% for i in range(3) %}{{ x }}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}"),
            "1212121");
  // `if` does not create a scope.
  EXPECT_EQ(render("{% if true %}{% set y = 5 %}{% endif %}{{ y }}"), "5");
  // Loop variables are gone after the loop.
  EXPECT_EQ(render("{% for i in [1] %}{% endfor %}[{{ i }}]"), "[]");
}

TEST(JinjaStatement, NamespacesCarryStateAcrossScopes) {
  EXPECT_EQ(render("{% set ns = namespace(a=1, b=[]) %}{% set ns.a = ns.a + 1 %}{{ ns.a }}"
                   "{% for i in range(3) %}{% set ns.a = ns.a * 2 %}{% endfor %}{{ ns.a }}"),
            "216");
  EXPECT_EQ(render("{% set ns = namespace() %}{% set ns.x = 'q' %}{{ ns.x }}[{{ ns.y }}]{{ ns['x'] }}"), "q[]q");
  EXPECT_EQ(render("{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}"), "12");
  EXPECT_EQ(render_error("{% set d = {} %}{% set d.x = 1 %}"),
            "TemplateRuntimeError at 1:24: cannot assign attribute on non-namespace object");
}

TEST(JinjaStatement, SetForms) {
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = 1, 2 %}{{ t }}"), "12(1, 2)");
  EXPECT_EQ(render("{% set x %}\n  hello\n{% endset %}[{{ x }}]"), "[  hello\n]");
  EXPECT_EQ(render("{% set x | upper | trim %} shout {% endset %}[{{ x }}]"), "[SHOUT]");
  // Top-level variables from the caller can be replaced.
  EXPECT_EQ(render("{% set messages = messages[1:] %}{{ messages }}", {{"messages", {1, 2, 3}}}), "[2, 3]");
}

TEST(JinjaStatement, MacrosAndCallBlocks) {
  EXPECT_EQ(render("{% macro m(a, b=2) %}{{a}}-{{b}}-{{varargs}}-{{kwargs}}{% endmacro %}"
                   "{{ m(1) }}|{{ m(1,3,4,5) }}|{{ m(1, c=3) }}|{{ m(b=7, a=0) }}"),
            "1-2-()-{}|1-3-(4, 5)-{}|1-2-()-{'c': 3}|0-7-()-{}");
  // Macros see the defining scope at call time (late binding), as in Jinja.
  EXPECT_EQ(render("{% macro m() %}{{ x }}{% endmacro %}{% set x = 5 %}{{ m() }}"), "5");
  EXPECT_EQ(render("{% macro m(a) %}[{{ caller(a) }}]{% endmacro %}{% call(v) m(3) %}v={{ v }}{% endcall %}"), "[v=3]");
  EXPECT_EQ(render("{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}body{% endcall %}"), "<body>");
  // Recursion, as JSON-schema renderers in tool templates do.
  EXPECT_EQ(render("{% macro count(n) %}{{ n }}{% if n > 0 %}{{ count(n - 1) }}{% endif %}{% endmacro %}{{ count(3) }}"),
            "3210");
  // A macro's own variables stay inside it; missing arguments are undefined.
  EXPECT_EQ(render("{% macro m(a) %}{% set inner = 1 %}[{{ a }}]{% endmacro %}{{ m() }}[{{ inner }}]"), "[][]");
  EXPECT_EQ(render_error("{% macro m(a) %}{% endmacro %}{{ m(1, a=2) }}"),
            "TypeError at 1:35: macro 'm' got multiple values for argument 'a'");
}

TEST(JinjaStatement, FilterWithGenerationAndDo) {
  EXPECT_EQ(render("{% filter upper %}hello {{ 'x' }}{% endfilter %}"), "HELLO X");
  EXPECT_EQ(render("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]"), "3[]");
  EXPECT_EQ(render("{% generation %}gen {{ 1 }}{% endgeneration %}"), "gen 1");
  EXPECT_EQ(render("{% set l = [] %}{% do l.append(1) %}{{ l }}"), "[1]");
}

TEST(JinjaStatement, GlobalsAndFixedClock) {
  EXPECT_EQ(render("{{ range(5)|list }} {{ range(2, 8, 3)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }}"),
            "[0, 1, 2, 3, 4] [2, 5] [5, 3, 1] []");
  EXPECT_EQ(render("{{ dict(a=1, b='x') }} {{ dict([('k', 2)]) }}"), "{'a': 1, 'b': 'x'} {'k': 2}");
  EXPECT_EQ(render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A') }}"),
            "26 Jul 2024|2024-07-26 00:00:00 Friday");
  EXPECT_EQ(render_error("{{ raise_exception('Only user and assistant roles are supported!') }}"),
            "TemplateError at 1:19: Only user and assistant roles are supported!");
}

TEST(JinjaStatement, InjectedClockIsUsed) {
  RenderOptions options;
  options.clock = [] {
    std::tm tm{};
    tm.tm_year = 2031 - 1900;
    tm.tm_mon = 0;
    tm.tm_mday = 2;
    tm.tm_hour = 13;
    return tm;
  };
  EXPECT_EQ(render("{{ strftime_now('%Y-%m-%d %H') }}", Json::object(), options), "2031-01-02 13");
}

}  // namespace
}  // namespace strata::chat::testing
