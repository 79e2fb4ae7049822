// Expressions: literals, operators and precedence, attribute/subscript lookup, slicing,
// Python's str() of values, undefined semantics and type errors (checked against Jinja2).
#include <gtest/gtest.h>

#include "jinja_test_util.h"

namespace strata::chat::testing {
namespace {

TEST(JinjaExpression, LiteralsPrintLikePython) {
  EXPECT_EQ(render("{{ (1,2) }}{{ [1,'a',none,true,1.5] }}{{ {'a':1} }}{{ (1,) }}{{ () }}"),
            "(1, 2)[1, 'a', None, True, 1.5]{'a': 1}(1,)()");
  EXPECT_EQ(render("{{ True }} {{ False }} {{ None }} {{ none }}"), "True False None None");
  EXPECT_EQ(render("{{ [\"it's\", 'say \"x\"', 'both \\'\"', 'nl\\n'] }}"),
            "[\"it's\", 'say \"x\"', 'both \\'\"', 'nl\\n']");
}

TEST(JinjaExpression, FloatsPrintAsPythonRepr) {
  EXPECT_EQ(render("{{ 1/2 }} {{ 4/2 }} {{ 0.1+0.2 }} {{ 1e20 }} {{ 1e16 }} {{ 123456789012345678.0 }} {{ 1e-5 }} "
                   "{{ 0.0001 }} {{ -0.0 }} {{ 3.14 }} {{ 1e15 }}"),
            "0.5 2.0 0.30000000000000004 1e+20 1e+16 1.2345678901234568e+17 1e-05 0.0001 -0.0 3.14 "
            "1000000000000000.0");
}

TEST(JinjaExpression, Arithmetic) {
  EXPECT_EQ(render("{{ 7//2 }} {{ -7//2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2**10 }} {{ 2**-1 }} {{ 10 / 4 }} {{ 1 + 2.5 }} "
                   "{{ true + 1 }} {{ -(3) }} {{ +4 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }}"),
            "3 -4 2 -2 1024 0.5 2.5 3.5 2 -3 4 3.0 0.5");
  EXPECT_EQ(render("{{ 'ab' * 3 }} {{ 3 * 'ab' }} {{ [1] * 3 }} {{ 'x' * 0 }}|{{ 'a' + 'b' }} {{ [1] + [2] }} "
                   "{{ (1,) + (2,) }}"),
            "ababab ababab [1, 1, 1] |ab [1, 2] (1, 2)");
  // ** binds tighter than unary minus on its right only as in Jinja: -2**2 is (-2)**2.
  // ~ binds tighter than + and -, looser than * and /.
  EXPECT_EQ(render("{{ -2**2 }} {{ 2 + 3 * 4 }} {{ (2 + 3) * 4 }} {{ 2 * 3 ~ 4 }} {{ 1 ~ 2 * 3 }}"), "4 14 20 64 16");
  EXPECT_EQ(render_error("{{ 1 + 2 ~ 3 }}"), "TypeError at 1:6: unsupported operand type(s) for +: 'int' and 'str'");
}

TEST(JinjaExpression, ArithmeticErrorsUsePythonMessages) {
  EXPECT_EQ(render_error("{{ 'a' + 1 }}"), "TypeError at 1:8: can only concatenate str (not \"int\") to str");
  EXPECT_EQ(render_error("{{ 'a' + {} }}"), "TypeError at 1:8: can only concatenate str (not \"dict\") to str");
  EXPECT_EQ(render_error("{{ [1] + 'a' }}"), "TypeError at 1:8: can only concatenate list (not \"str\") to list");
  EXPECT_EQ(render_error("{{ 1 + 'a' }}"), "TypeError at 1:6: unsupported operand type(s) for +: 'int' and 'str'");
  EXPECT_EQ(render_error("{{ none + 1 }}"), "TypeError at 1:9: unsupported operand type(s) for +: 'NoneType' and 'int'");
  EXPECT_EQ(render_error("{{ 1 / 0 }}"), "ZeroDivisionError at 1:6: division by zero");
  EXPECT_EQ(render_error("{{ 1 // 0 }}"), "ZeroDivisionError at 1:6: integer division or modulo by zero");
  EXPECT_EQ(render_error("{{ 'a' * 1.5 }}"), "TypeError at 1:8: can't multiply sequence by non-int of type 'float'");
  EXPECT_EQ(render_error("{{ -'a' }}"), "TypeError at 1:4: bad operand type for unary -: 'str'");
  EXPECT_EQ(render_error("{{ 9223372036854775807 + 1 }}"),
            "ValueError at 1:24: integer overflow in '+' (results beyond 64 bits are not supported)");
}

TEST(JinjaExpression, StringFormattingOperator) {
  EXPECT_EQ(render("{{ 'Hello %s, you are %d' % ('Bob', 42) }}"), "Hello Bob, you are 42");
  EXPECT_EQ(render("{{ '%5.2f|%-5s|%05d|%x|%r|%%' % (3.14159, 'ab', 42, 255, 'q') }}"), " 3.14|ab   |00042|ff|'q'|%");
  EXPECT_EQ(render("{{ '%(a)s-%(b)d' % {'a': 'x', 'b': 3} }} {{ '%s' % [1] }}"), "x-3 [1]");
  EXPECT_EQ(render_error("{{ '%s %s' % ('a',) }}"), "TypeError at 1:12: not enough arguments for format string");
}

TEST(JinjaExpression, ComparisonsChainAndFollowPython) {
  EXPECT_EQ(render("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 1 != 2 }} {{ [1,2] < [1,3] }} {{ (1,2) == [1,2] }} "
                   "{{ 'a' < 'b' }} {{ 'B' < 'a' }} {{ true == 1 }} {{ none == none }} {{ {'a': 1} == {'a': 1.0} }}"),
            "True False True True True False True True True True True");
  EXPECT_EQ(render_error("{{ 1 < 'a' }}"), "TypeError at 1:6: '<' not supported between instances of 'int' and 'str'");
}

TEST(JinjaExpression, MembershipOperators) {
  EXPECT_EQ(render("{{ 'b' in 'abc' }} {{ 1 in [1,2] }} {{ 'a' in {'a':1} }} {{ 'z' not in 'abc' }} {{ 'x' in y }} "
                   "{{ 2 in (1, 2) }}"),
            "True True True True False True");
  EXPECT_EQ(render_error("{{ 1 in 'abc' }}"), "TypeError at 1:6: 'in <string>' requires string as left operand, not int");
  EXPECT_EQ(render_error("{{ 'x' in none }}"), "TypeError at 1:8: argument of type 'NoneType' is not iterable");
}

TEST(JinjaExpression, LogicReturnsOperandsLikePython) {
  EXPECT_EQ(render("{{ 1 and 2 }} {{ 0 and 2 }} {{ 0 or 'x' }} {{ none or none }} {{ not 1 }} {{ not not 0 }} "
                   "{{ '' or [] or 'last' }}"),
            "2 0 x None False False last");
  // `and` short-circuits: the right side is never evaluated.
  EXPECT_EQ(render("{{ false and undefined_fn() }}{{ true or 1/0 }}"), "FalseTrue");
  // `not` binds looser than `is` and comparisons.
  EXPECT_EQ(render("{{ not x is defined }} {{ not 1 == 2 }}"), "True True");
}

TEST(JinjaExpression, ConditionalExpressions) {
  EXPECT_EQ(render("{{ 'a' if 1 else 'b' }} {{ 'a' if 0 else 'b' if 1 else 'c' }}|{{ 1 if false }}|"), "a b||");
}

TEST(JinjaExpression, ConcatenationStringifies) {
  EXPECT_EQ(render("{{ 'a' ~ none ~ x ~ 1.5 ~ true ~ [1] }}"), "aNone1.5True[1]");
}

TEST(JinjaExpression, AttributeAndItemLookup) {
  Json vars = {{"m", {{"role", "user"}, {"items", 3}, {"content", "hi"}}}, {"l", {10, 20, 30}}};
  EXPECT_EQ(render("{{ m.role }} {{ m['role'] }} {{ m.content.upper() }} {{ l[0] }} {{ l[-1] }} {{ l.1 }}", vars),
            "user user HI 10 30 20");
  // A dict method wins over a key for `.name`; `['name']` prefers the key, as in Jinja.
  EXPECT_EQ(render("{{ m['items'] }} {{ m.items()|list|length }}", vars), "3 3");
  // Missing attributes and out-of-range indexes are undefined, not errors.
  EXPECT_EQ(render("[{{ m.nope }}][{{ l[7] }}][{{ m['x'] }}][{{ none.foo }}]", vars), "[][][][]");
  EXPECT_EQ(render("{{ m.nope is defined }} {{ l[7] is undefined }}", vars), "False True");
}

TEST(JinjaExpression, UndefinedBehavesLikeJinjaDefaultUndefined) {
  EXPECT_EQ(render("[{{ x }}]{{ x|length }}{{ x|list }}[{{ x|trim }}][{{ x|upper }}]{{ x is none }}{{ x == y }}"),
            "[]0[][][]FalseTrue");
  EXPECT_EQ(render("{% for c in x %}a{% endfor %}ok{% if not x %}!{% endif %}"), "ok!");
  EXPECT_EQ(render_error("{{ x.foo }}"), "UndefinedError at 1:5: 'x' is undefined");
  EXPECT_EQ(render_error("{{ x + 'a' }}"), "UndefinedError at 1:6: 'x' is undefined");
  EXPECT_EQ(render_error("{{ x() }}"), "UndefinedError at 1:5: 'x' is undefined");
  EXPECT_EQ(render_error("{{ none.split() }}"), "UndefinedError at 1:14: 'None' has no attribute 'split'");
  Json vars = {{"m", {{"role", "user"}}}};
  EXPECT_EQ(render_error("{{ m.foo.bar }}", vars), "UndefinedError at 1:9: 'dict object' has no attribute 'foo'");
  EXPECT_EQ(render_error("{{ 'abc'.nosuch() }}"), "UndefinedError at 1:16: 'str object' has no attribute 'nosuch'");
  EXPECT_EQ(render_error("{{ x|tojson }}"), "TypeError at 1:6: Object of type Undefined is not JSON serializable");
  EXPECT_EQ(render_error("{{ -x }}"), "UndefinedError at 1:4: 'x' is undefined");
}

TEST(JinjaExpression, CallingNonCallables) {
  EXPECT_EQ(render_error("{{ [1]() }}"), "TypeError at 1:7: 'list' object is not callable");
}

TEST(JinjaExpression, SlicingIsCodePointAwareAndSupportsSteps) {
  EXPECT_EQ(render("{{ 'abc'[::-1] }} {{ 'héllo'[1] }} {{ 'héllo'[1:3] }} {{ [1,2,3,4,5][1:4:2] }} {{ [1,2,3][::-2] }} "
                   "{{ 'abcdef'[-2:] }} {{ 'abc'[5:] }}| {{ (1,2,3)[:2] }} {{ 'añb'[::-1] }}"),
            "cba é él [2, 4] [3, 1] ef | (1, 2) bña");
  EXPECT_EQ(render_error("{{ 'abc'[::0] }}"), "ValueError at 1:9: slice step cannot be zero");
  EXPECT_EQ(render_error("{{ 5[1:] }}"), "TypeError at 1:5: 'int' object is not subscriptable");
}

TEST(JinjaExpression, DictLiteralsKeepInsertionOrder) {
  EXPECT_EQ(render("{{ {'z': 1, 'a': 2, 'z': 3} }}"), "{'z': 3, 'a': 2}");
  EXPECT_EQ(render_error("{{ {[1]: 2} }}"), "TypeError at 1:5: unhashable type: 'list'");
}

TEST(JinjaExpression, MessagesInOpenAIShape) {
  Json vars = {{"messages", Json::parse(R"([{"role":"system","content":"S"},{"role":"user","content":" Q "}])")}};
  EXPECT_EQ(render("{{ messages[1:]|length }} {{ messages[-1].content|trim }} {{ (messages|last).role }} "
                   "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }}",
                   vars),
            "1 Q user [' Q ']");
}

}  // namespace
}  // namespace strata::chat::testing
