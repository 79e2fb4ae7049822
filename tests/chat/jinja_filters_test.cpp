// Builtin filters, tests and methods (expected values checked against Jinja2 3.1 with
// Hugging Face's tojson).
#include <gtest/gtest.h>

#include "jinja_test_util.h"

namespace strata::chat::testing {
namespace {

TEST(JinjaFilters, TojsonFollowsPythonJsonDumps) {
  EXPECT_EQ(render("{{ {'a': 1, 'b': [1, 'x', none, true, 1.5, 'é\\n<&>']} | tojson }}"),
            "{\"a\": 1, \"b\": [1, \"x\", null, true, 1.5, \"é\\n<&>\"]}");
  EXPECT_EQ(render("{{ 'é\"\\u0001\\t' | tojson }} {{ 'é'|tojson(ensure_ascii=true) }} {{ '😀'|tojson(true) }}"),
            "\"é\\\"\\u0001\\t\" \"\\u00e9\" \"\\ud83d\\ude00\"");
  EXPECT_EQ(render("{{ {'a':{'b':[]}, 'c': {}, 'd': [1, 2]} | tojson(indent=2) }}"),
            "{\n  \"a\": {\n    \"b\": []\n  },\n  \"c\": {},\n  \"d\": [\n    1,\n    2\n  ]\n}");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ [1, 2]|tojson(separators=(',', ':')) }} "
                   "{{ {'a': 1}|tojson(indent='\\t') }}"),
            "{\"a\": 2, \"b\": 1} [1,2] {\n\t\"a\": 1\n}");
  EXPECT_EQ(render("{{ 1e100|tojson }} {{ (1, (2, 3))|tojson }} {{ {1: 'int key'}|tojson }}"),
            "1e+100 [1, [2, 3]] {\"1\": \"int key\"}");
  // Keys keep the order of the input document.
  Json vars = {{"tool", Json::parse(R"({"type":"function","function":{"name":"f","parameters":{"z":1,"a":2}}})")}};
  EXPECT_EQ(render("{{ tool|tojson }}", vars),
            "{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"z\": 1, \"a\": 2}}}");
}

TEST(JinjaFilters, StringFilters) {
  EXPECT_EQ(render("{{ '  hi  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'hello world'|capitalize }}|"
                   "{{ 'hello WORLD-foo (bar'|title }}|{{ 'aBc'|upper }}|{{ 'aBc'|lower }}|{{ 'a<b>&\"\\''|e }}"),
            "hi|hi|Hello world|Hello World-Foo (Bar|ABC|abc|a&lt;b&gt;&amp;&#34;&#39;");
  EXPECT_EQ(render("{{ 'aaa'|replace('a','b', 2) }} {{ 'abc'|replace('', '-') }} {{ 123|string ~ 'x' }} "
                   "{{ [1,2]|string }} {{ none|string }}"),
            "bba -a-b-c- 123x [1, 2] None");
  EXPECT_EQ(render("[{{ 'ab'|center(6) }}][{{ 'abc'|center(6) }}] {{ 'hello world foo'|wordcount }} "
                   "{{ 'Hello world, how are you'|truncate(12) }} {{ 'Hello world, how are you'|truncate(12, true) }}"),
            "[  ab  ][ abc  ] 3 Hello... Hello wor...");
  EXPECT_EQ(render("{{ '%s-%d'|format('a', 3) }} {{ '%(x)s'|format(x=1) }} {{ [1,2]|safe }}"), "a-3 1 [1, 2]");
}

TEST(JinjaFilters, IndentFollowsJinja31) {
  EXPECT_EQ(render("{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb\\n\\nc'|indent(2, true, true) }}|"
                   "{{ 'a\\nb'|indent('> ', first=true) }}|{{ ''|indent }}|{{ 'x\\n'|indent }}"),
            "a\n  b\n\n  c|  a\n  b\n  \n  c|> a\n> b||x\n");
}

TEST(JinjaFilters, NumberFilters) {
  EXPECT_EQ(render("{{ 2.5|round }} {{ 3.5|round }} {{ -2.5|round }} {{ 2.567|round(2) }} {{ 2.675|round(2) }} "
                   "{{ 2.5|round(0, 'floor') }} {{ 1.21|round(1, 'ceil') }} {{ 7|round }} {{ -3|abs }} {{ -2.5|abs }}"),
            "2.0 4.0 -2.0 2.57 2.67 2.0 1.3 7 3 2.5");
  EXPECT_EQ(render("{{ '12'|int + 1 }} {{ '3.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ '0x1A'|int(0, 16) }} "
                   "{{ '1A'|int(base=16) }} {{ '3.5'|float }} {{ 'x'|float }} {{ 5|float }} {{ 5.9|int }} {{ true|int }}"),
            "13 3 0 7 26 26 3.5 0.0 5.0 5 1");
}

TEST(JinjaFilters, DefaultFilter) {
  EXPECT_EQ(render("{{ x|default('d') }} [{{ ''|default('d') }}] {{ ''|default('d', true) }} {{ none|default('d') }} "
                   "[{{ x|d }}] {{ 0|d(5, boolean=true) }}"),
            "d [] d None [] 5");
}

TEST(JinjaFilters, SequenceFilters) {
  EXPECT_EQ(render("{{ [3,1,2]|sort }} {{ ['b','A','a']|unique|list }} {{ [1,2,3]|reverse|list }} {{ 'abc'|reverse }} "
                   "{{ [3, 1, 2]|first }} {{ [3, 1, 2]|last }} {{ 'abc'|first }} [{{ []|first }}] {{ 'héllo'|length }} "
                   "{{ {'a': 1}|count }}"),
            "[1, 2, 3] ['b', 'A'] [3, 2, 1] cba 3 2 a [] 5 1");
  EXPECT_EQ(render("{{ [1,2,3,4,5]|batch(2)|list }} {{ [1,2,3]|batch(2, 0)|list }} {{ 'ab'|list }}"),
            "[[1, 2], [3, 4], [5]] [[1, 2], [3, 0]] ['a', 'b']");
  EXPECT_EQ(render("{{ ['a', 'b']|join }} {{ [1, 2]|join('-') }} {{ [{'n':'x'},{'n':'y'}]|join(', ', attribute='n') }}"),
            "ab 1-2 x, y");
  EXPECT_EQ(render("{{ [1,5,3]|max }} {{ [1,5,3]|min }} {{ ['b','A','c']|max }} {{ [1,2,3]|sum }} "
                   "{{ [{'v':1},{'v':2}]|sum(attribute='v') }} {{ [1.5, 2]|sum(start=10) }}"),
            "5 1 c 6 3 13.5");
  EXPECT_EQ(render("{{ [{'n':'b'},{'n':'A'},{'n':'c'}]|sort(attribute='n')|map(attribute='n')|join }} "
                   "{{ ['b','A','c']|sort(case_sensitive=true)|join }} {{ [3,1,2]|sort(reverse=true)|join }}"),
            "Abc Abc 321");
  EXPECT_EQ(render_error("{{ [1, 'a']|sort }}"), "TypeError at 1:13: '<' not supported between instances of 'str' and 'int'");
}

TEST(JinjaFilters, MappingFilters) {
  EXPECT_EQ(render("{{ {'b':1,'a':2}|dictsort }} {{ {'b':1,'a':2}|items|list }} "
                   "{{ {'b':1,'a':2}|dictsort(by='value', reverse=true) }} {{ x|items|list }}"),
            "[('a', 2), ('b', 1)] [('b', 1), ('a', 2)] [('a', 2), ('b', 1)] []");
  EXPECT_EQ(render_error("{{ [1]|items|list }}"), "TypeError at 1:8: Can only get item pairs from a mapping.");
}

TEST(JinjaFilters, MapSelectReject) {
  EXPECT_EQ(render("{{ [{'a':1},{'a':2}]|map(attribute='a')|list }} {{ ['a','b']|map('upper')|join(',') }} "
                   "{{ [{'a': {'b': 7}}]|map(attribute='a.b')|list }} {{ [{}]|map(attribute='x', default=0)|list }} "
                   "{{ [' a ']|map('trim')|list }} {{ [1.26]|map('round', 1)|list }}"),
            "[1, 2] A,B [7] [0] ['a'] [1.3]");
  EXPECT_EQ(render("{{ [1,2,3,4]|select('odd')|list }} {{ [1,2,3,4]|reject('divisibleby', 2)|list }} "
                   "{{ [0,1,'',none,'x']|select|list }} {{ [1, 5, 9]|select('gt', 4)|list }}"),
            "[1, 3] [1, 3] [1, 'x'] [5, 9]");
  EXPECT_EQ(render("{{ [{'r':'u'},{'r':'a'}]|selectattr('r','equalto','u')|list }} {{ [{'r':'u'},{'r':''}]|rejectattr('r')|list }} "
                   "{{ [{'t': none}, {'t': 1}]|selectattr('t', 'none')|list|length }}"),
            "[{'r': 'u'}] [{'r': ''}] 1");
}

TEST(JinjaFilters, AttrFilterSeesAttributesNotKeys) {
  EXPECT_EQ(render("[{{ {'a': 1}|attr('a') }}] {{ {'a': 1}|attr('items') is callable }}"), "[] True");
  EXPECT_EQ(render_error("{{ ns|attr('x') }}"), "UndefinedError at 1:7: 'ns' is undefined");
  EXPECT_EQ(render("{% set ns = namespace(x=3) %}{{ ns|attr('x') }}"), "3");
}

TEST(JinjaTests, TypeAndValueTests) {
  EXPECT_EQ(render("{{ 'a' is string }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} {{ true is integer }} "
                   "{{ true is boolean }} {{ none is none }} {{ {} is mapping }} {{ [] is iterable }} {{ 'x' is iterable }} "
                   "{{ 3 is iterable }} {{ [] is sequence }} {{ range is callable }} {{ 'x' is callable }}"),
            "True True True True False True True True True True False True True False");
  EXPECT_EQ(render("{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ true is true }} "
                   "{{ 1 is true }} {{ false is false }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ 'Ab' is lower }}"),
            "True True True False True False True True True False");
  EXPECT_EQ(render("{{ 1 is eq 1 }} {{ 1 is equalto 1.0 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 2 is gt 1 }} {{ 1 is le 1 }} "
                   "{{ 1 is ge 2 }} {{ 1 is in [1] }} {{ none is sameas none }} {{ 1 is sameas true }} "
                   "{{ x is defined }} {{ x is undefined }} {{ 1 is not none }} {{ 'upper' is filter }} {{ 'odd' is test }}"),
            "True True True True True True False True True False False True True True True");
}

TEST(JinjaMethods, StringMethods) {
  EXPECT_EQ(render("{{ 'Hello World'.lower() }} {{ 'hello world'.title() }} {{ 'hello'.capitalize() }} "
                   "[{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  a'.lstrip() }}|{{ 'a  '.rstrip() }}] "
                   "{{ 'a b  c'.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ ' a b '.split(None, 1) }} {{ ' a  b  c '.rsplit(None, 1) }}"),
            "hello world Hello World Hello [x|hi|a|a] ['a', 'b', 'c'] ['a', 'b,c'] ['a,b', 'c'] ['a', 'b '] [' a  b', 'c']");
  EXPECT_EQ(render("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x','c')) }} {{ 'aXbX'.replace('X','-') }} "
                   "{{ ', '.join(['a','b']) }} {{ 'abcabc'.find('c') }} {{ 'abc'.find('z') }} {{ 'abcabc'.count('b') }} "
                   "{{ 'héllo'.find('l') }} {{ 'a\\nb'.splitlines() }} {{ '42'.isdigit() }} {{ 'x'.upper().lower() }}"),
            "True True a-b- a, b 2 -1 2 2 ['a', 'b'] True x");
  EXPECT_EQ(render("{{ '{} and {}'.format(1, 'b') }} {{ '{0}{1}{0}'.format('a','b') }} {{ '{x}!'.format(x=5) }} "
                   "{{ '{:>5}|{:<5}|{:^5}|{:05.1f}|{!r}'.format('a','b','c',3.14159,'q') }}"),
            "1 and b aba 5!     a|b    |  c  |003.1|'q'");
  EXPECT_EQ(render("{{ 'x'.zfill(3) }} {{ 'ab'.ljust(4, '.') }}| {{ 'a=b=c'.partition('=') }} {{ 'prefix-x'.removeprefix('prefix-') }}"),
            "00x ab..| ('a', '=', 'b=c') x");
  EXPECT_EQ(render_error("{{ ','.join([1]) }}"), "TypeError at 1:12: sequence item 0: expected str instance, int found");
  EXPECT_EQ(render_error("{{ 'a'.split('') }}"), "ValueError at 1:13: empty separator");
}

TEST(JinjaMethods, ListAndDictMethods) {
  Json vars = {{"m", {{"role", "user"}, {"content", "hi"}}}};
  EXPECT_EQ(render("{{ m.items()|list }}{{ m.keys()|list }}{{ m.get('x', 5) }}{{ m.get('x') }}{{ m.values()|list }}"
                   "{{ m.get('role') }}",
                   vars),
            "[('role', 'user'), ('content', 'hi')]['role', 'content']5None['user', 'hi']user");
  EXPECT_EQ(render("{% set l = [1, 2] %}{% set _ = l.append(3) %}{{ l }} {{ l.pop() }} {{ l }} {{ l.index(2) }} "
                   "{{ [1,1,2].count(1) }} {% do l.insert(0, 9) %}{% do l.extend([7]) %}{{ l }}"),
            "[1, 2, 3] 3 [1, 2] 1 2 [9, 1, 2, 7]");
  EXPECT_EQ(render_error("{{ [].pop() }}"), "IndexError at 1:10: pop from empty list");
  EXPECT_EQ(render_error("{{ [1].index(5) }}"), "ValueError at 1:13: 5 is not in list");
}

}  // namespace
}  // namespace strata::chat::testing
