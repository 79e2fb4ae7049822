// `strata template`: renders a chat template from a file or a GGUF for a messages file;
// errors exit 1 with one line naming the problem.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "gguf/writer.h"
#include "support/fixtures.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace {

using strata::testing::run_command;
using strata::testing::TempDir;

std::string strata_cmd() { return strata::testing::strata_binary().string(); }

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

constexpr const char* kChatml =
    "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}"
    "{% if tools %}TOOLS={{ tools|map(attribute='function.name')|join(',') }}\n{% endif %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}[{{ bos_token }}|{{ eos_token }}]";

constexpr const char* kMessages = R"([{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"}])";

TEST(TemplateCommand, RendersMessagesFromAnArray) {
  TempDir dir;
  const std::string t = write(dir, "t.jinja", kChatml);
  const std::string m = write(dir, "m.json", kMessages);
  auto r = run_command(strata_cmd() + " template --template-file " + t + " --messages " + m);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n[|]");
  r = run_command(strata_cmd() + " template --template-file " + t + " --messages " + m +
                  " --add-generation-prompt --bos-token '<s>' --eos-token '</s>'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output,
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>assistant\n[<s>|</s>]");
}

TEST(TemplateCommand, ReadsRequestBodiesAndToolFiles) {
  TempDir dir;
  const std::string t = write(dir, "t.jinja", kChatml);
  const std::string body = write(dir, "body.json",
                                 R"({"model":"x","messages":[{"role":"user","content":"Q"}],)"
                                 R"("tools":[{"type":"function","function":{"name":"a"}}]})");
  auto r = run_command(strata_cmd() + " template --template-file " + t + " --messages " + body);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "<|im_start|>user\nQ<|im_end|>\nTOOLS=a\n[|]");
  const std::string tools = write(dir, "tools.json", R"([{"type":"function","function":{"name":"b"}}])");
  r = run_command(strata_cmd() + " template --template-file " + t + " --messages " + body + " --tools " + tools);
  EXPECT_EQ(r.output, "<|im_start|>user\nQ<|im_end|>\nTOOLS=b\n[|]");
}

TEST(TemplateCommand, UsesTheGgufTemplateAndSpecialTokens) {
  TempDir dir;
  strata::gguf::Writer writer;
  writer.set("general.architecture", strata::gguf::Value::from_string("llama"));
  writer.set("tokenizer.chat_template", strata::gguf::Value::from_string(kChatml));
  writer.set("tokenizer.ggml.tokens", strata::gguf::Value::from_string_array({"<unk>", "<|begin|>", "<|end|>", "a"}));
  writer.set("tokenizer.ggml.bos_token_id", strata::gguf::Value::from_u32(1));
  writer.set("tokenizer.ggml.eos_token_id", strata::gguf::Value::from_u32(2));
  const auto model = dir / "model.gguf";
  ASSERT_TRUE(writer.write(model).ok());
  const std::string m = write(dir, "m.json", kMessages);
  auto r = run_command(strata_cmd() + " template -m " + model.string() + " --messages " + m);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n[<|begin|>|<|end|>]");
  // Explicit tokens win over the vocabulary's.
  r = run_command(strata_cmd() + " template -m " + model.string() + " --messages " + m + " --bos-token B");
  EXPECT_NE(r.output.find("[B|<|end|>]"), std::string::npos) << r.output;

  strata::gguf::Writer bare;
  bare.set("general.architecture", strata::gguf::Value::from_string("llama"));
  const auto no_template = dir / "bare.gguf";
  ASSERT_TRUE(bare.write(no_template).ok());
  r = run_command(strata_cmd() + " template -m " + no_template.string() + " --messages " + m);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("has no tokenizer.chat_template string; pass --template-file instead"), std::string::npos)
      << r.output;
}

TEST(TemplateCommand, RendersAReferenceTemplate) {
  STRATA_REQUIRE_FIXTURES();
  TempDir dir;
  const auto t = strata::testing::fixtures_dir() / "templates" / "Qwen-Qwen2.5-7B-Instruct.jinja";
  const std::string m = write(dir, "m.json", R"([{"role":"user","content":"Hello, who are you?"}])");
  auto r = run_command(strata_cmd() + " template --template-file " + t.string() + " --messages " + m +
                       " --add-generation-prompt");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output,
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHello, who are you?<|im_end|>\n<|im_start|>assistant\n");
}

TEST(TemplateCommand, ErrorsAreOneLineAndExitOne) {
  TempDir dir;
  const std::string t = write(dir, "t.jinja", kChatml);
  const std::string m = write(dir, "m.json", kMessages);
  auto expect_error = [&](const std::string& args, const std::string& needle) {
    const auto r = run_command(strata_cmd() + " template " + args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  };
  expect_error("--template-file " + t + " --messages " + (dir / "nope.json").string(),
               "strata template: error: messages file '" + (dir / "nope.json").string() + "' does not exist");
  expect_error("--template-file " + (dir / "nope.jinja").string() + " --messages " + m, "template file '");
  expect_error("--template-file " + t + " --messages " + write(dir, "bad.json", "[{\"role\": }"),
               "is not valid JSON: parse error at line 1, column 11");
  expect_error("--template-file " + t + " --messages " + write(dir, "num.json", "42"),
               "expected a JSON array of messages or an object with \"messages\", got number");
  expect_error("--messages " + m, "give the template with exactly one of --template-file FILE or -m MODEL.gguf");
  expect_error("--template-file " + write(dir, "raise.jinja", "line one\n  {{ raise_exception('Roles must\nalternate') }}") +
                   " --messages " + m,
               "TemplateError at 2:21: Roles must\\nalternate");
  expect_error("--template-file " + write(dir, "syntax.jinja", "{% for m in messages %}") + " --messages " + m,
               "TemplateSyntaxError at 1:24: unexpected end of template");
  expect_error("--template-file " + write(dir, "type.jinja", "{{ messages[0] + 'x' }}") + " --messages " + m,
               "TypeError at 1:16: unsupported operand type(s) for +: 'dict' and 'str'");
}

}  // namespace
