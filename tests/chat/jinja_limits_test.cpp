// Safety limits: hostile templates and inputs fail with clear errors instead of crashing,
// hanging or exhausting memory (nesting, loops, recursion, output size, cycles).
#include <gtest/gtest.h>

#include <string>

#include "jinja_test_util.h"

namespace strata::chat::testing {
namespace {

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

TEST(JinjaLimits, DeepNestingIsASyntaxErrorNotAStackOverflow) {
  const std::string parens = "{{ " + repeat("(", 100000) + "1" + repeat(")", 100000) + " }}";
  EXPECT_TRUE(starts_with(render_error(parens), "TemplateSyntaxError at 1:")) << render_error(parens);
  EXPECT_NE(render_error(parens).find("nested too deeply"), std::string::npos);
  const std::string chain = "{{ 1" + repeat(" + 1", 100000) + " }}";
  EXPECT_NE(render_error(chain).find("expression nested too deeply (more than 128 levels)"), std::string::npos);
  const std::string filters = "{{ 'x'" + repeat("|trim", 10000) + " }}";
  EXPECT_NE(render_error(filters).find("nested too deeply"), std::string::npos);
  const std::string nots = "{{ " + repeat("not ", 100000) + "x }}";
  EXPECT_NE(render_error(nots).find("nested too deeply"), std::string::npos);
  const std::string negs = "{{ " + repeat("-", 100000) + "1 }}";
  EXPECT_NE(render_error(negs).find("nested too deeply"), std::string::npos);
  const std::string lists = "{{ " + repeat("[", 100000) + repeat("]", 100000) + " }}";
  EXPECT_NE(render_error(lists).find("nested too deeply"), std::string::npos);
  const std::string ifs = repeat("{% if true %}", 10000) + repeat("{% endif %}", 10000);
  EXPECT_NE(render_error(ifs).find("nested too deeply"), std::string::npos);
  // Moderate nesting is fine.
  EXPECT_EQ(render("{{ " + repeat("(", 50) + "1" + repeat(")", 50) + " }}"), "1");
}

TEST(JinjaLimits, EndlessLoopsHitTheStepLimit) {
  const Status status = render_status("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}");
  EXPECT_EQ(status.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(status.message().find("evaluation steps"), std::string::npos) << status.message();
  EXPECT_NE(render_error("{{ range(1000000000000)|length }}").find("exceeds the step limit"), std::string::npos);
}

TEST(JinjaLimits, RepeatedWorkOnHugeValuesHitsTheStepLimit) {
  // Each operation reads the whole 4 MB string or compares whole lists: the step count grows
  // with the bytes and elements touched, so these end in a fraction of a second.
  for (const char* source : {
           "{% set s = 'é' * 2000000 %}{% for i in range(1000000) %}{% if s|length %}{% endif %}{% endfor %}",
           "{% set s = 'x' * 4000000 %}{% for i in range(1000000) %}{% if 'y' in s %}{% endif %}{% endfor %}",
           "{% set s = 'é' * 2000000 %}{% for i in range(1000000) %}{% if s[-1] %}{% endif %}{% endfor %}",
           "{% set a = [[1] * 1000] * 1000 %}{% set b = [[1] * 1000] * 1000 %}"
           "{% for i in range(1000000) %}{% if a == b %}{% endif %}{% endfor %}",
       }) {
    const Status status = render_status(source);
    EXPECT_EQ(status.code(), ErrorCode::kResourceExhausted) << source;
    EXPECT_NE(status.message().find("evaluation steps"), std::string::npos) << status.message();
  }
}

TEST(JinjaLimits, UnboundedRecursionHitsTheDepthLimit) {
  const std::string error = render_error("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}");
  EXPECT_TRUE(starts_with(error, "LimitExceeded at ")) << error;
  EXPECT_NE(error.find("recursion deeper than 400 levels"), std::string::npos) << error;
}

TEST(JinjaLimits, OutputAndStringSizesAreBounded) {
  RenderOptions options = test_options();
  options.limits.max_output_bytes = 1 << 20;
  EXPECT_EQ(render_error("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", Json::object(), options),
            "LimitExceeded at 1:29: template output exceeds 1048576 bytes");
  EXPECT_NE(render_error("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                         Json::object(), options)
                .find("template built a string of"),
            std::string::npos);
  EXPECT_NE(render_error("{{ 'x' * 1000000000000 }}", Json::object(), options).find("exceeds the 1048576 byte limit"),
            std::string::npos);
  EXPECT_NE(render_error("{{ ([0] * 1000000000)|length }}").find("exceeds the step limit"), std::string::npos);
  EXPECT_NE(render_error("{{ 'x'|center(1000000000000) }}", Json::object(), options).find("byte limit"), std::string::npos);
}

TEST(JinjaLimits, CyclesAndDeepValuesFailCleanly) {
  EXPECT_NE(render_error("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}").find("containing itself"),
            std::string::npos);
  EXPECT_NE(render_error("{% set l = [] %}{% do l.append(l) %}{{ l|tojson }}").find("nested deeper"), std::string::npos);
  EXPECT_NE(render_error("{% set l = [] %}{% do l.append(l) %}{{ l == l }}").find("nested deeper"), std::string::npos);
  // A very deep chain is built and torn down without recursion.
  EXPECT_EQ(render("{% set ns = namespace(l=[]) %}{% for i in range(200000) %}{% set ns.l = [ns.l] %}{% endfor %}ok"),
            "ok");
}

TEST(JinjaLimits, DeepJsonInputIsRejected) {
  Json deep = Json::array();
  for (int i = 0; i < 1000; ++i) deep = Json::array({deep});
  const Status status = render_status("{{ x|length }}", {{"x", deep}});
  EXPECT_EQ(status.code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(status.message().find("JSON input nested deeper than 128 levels"), std::string::npos);
}

TEST(JinjaLimits, LargeDictsStayFast) {
  // Built from pairs: nlohmann's ordered_json itself looks keys up linearly.
  Json pairs = Json::array();
  for (int i = 0; i < 100000; ++i) pairs.push_back(Json::array({"k" + std::to_string(i), i}));
  EXPECT_EQ(render("{% set d = dict(pairs) %}{{ d['k99999'] }} {{ d.k5 }} {{ d|length }} {{ 'k77' in d }}",
                   {{"pairs", pairs}}),
            "99999 5 100000 True");
}

TEST(JinjaLimits, OversizedTemplatesAreRefused) {
  TemplateOptions options;
  options.max_source_bytes = 100;
  auto parsed = JinjaTemplate::parse(std::string(101, 'x'), options);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "template is 101 bytes; at most 100 are accepted");
}

TEST(JinjaLimits, ArbitraryBytesNeverCrash) {
  // A few shapes the fuzzer found interesting: invalid UTF-8, stray delimiters, NULs.
  for (std::string source : {std::string("{{ '\xff\xfe' }}"), std::string("{{"), std::string("{%"), std::string("}}{%%}"),
                             std::string("{{ 'a\0b' }}", 11), std::string("{% for %}"), std::string("{{ x[:::] }}"),
                             std::string("{% set %}"), std::string("{% macro %}"), std::string("{{ ()()() }}")}) {
    (void)render(source);
  }
  EXPECT_EQ(render("{{ '\xff'|length }}{{ '\xc3'[0] }}"), "1\xc3");
}

}  // namespace
}  // namespace strata::chat::testing
