// strata template: render a chat template for a conversation, as the server would prompt.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/command.h"
#include "gguf/file.h"

namespace strata::cli {
namespace {

using Json = nlohmann::ordered_json;

struct TemplateArgs {
  std::string template_file;
  std::string model;
  std::string messages_file;
  std::string tools_file;
  bool add_generation_prompt = false;
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
};

Result<std::string> read_file(const std::string& path, std::string_view what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return not_found("{} '{}' does not exist", what, path);
  if (std::filesystem::is_directory(path, ec)) return invalid_argument("{} '{}' is a directory, not a file", what, path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open {} '{}'", what, path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return io_error("reading {} '{}' failed", what, path);
  return text.str();
}

Result<Json> read_json(const std::string& path, std::string_view what) {
  auto text = read_file(path, what);
  if (!text.ok()) return text.status();
  try {
    return Json::parse(*text);
  } catch (const nlohmann::json::parse_error& e) {
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix; keep where and why.
    std::string message = e.what();
    if (const size_t close = message.find("] "); close != std::string::npos) message.erase(0, close + 2);
    return invalid_argument("{} '{}' is not valid JSON: {}", what, path, message);
  }
}

// The text of token `id_key`'s id in the vocabulary, if the model names one.
Result<std::optional<std::string>> special_token_text(const gguf::File& file, std::string_view id_key) {
  if (file.find(id_key) == nullptr) return std::optional<std::string>();
  auto id = file.get_uint(id_key);
  if (!id.ok()) return id.status();
  const gguf::Value* tokens = file.find("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->strings() == nullptr) {
    return invalid_argument("'{}' is set but the model has no tokenizer.ggml.tokens string array", id_key);
  }
  if (*id >= tokens->strings()->size()) {
    return invalid_argument("{} is {}, but the vocabulary has only {} tokens", id_key, *id, tokens->strings()->size());
  }
  return std::optional<std::string>((*tokens->strings())[*id]);
}

std::string one_line(std::string message) {
  std::string out;
  for (char c : message) {
    if (c == '\n') {
      out += "\\n";
    } else if (c != '\r') {
      out.push_back(c);
    }
  }
  return out;
}

Status run_template(const TemplateArgs& args) {
  if (args.template_file.empty() == args.model.empty()) {
    return invalid_argument("give the template with exactly one of --template-file FILE or -m MODEL.gguf");
  }
  std::string source;
  std::string origin;
  std::optional<std::string> bos;
  std::optional<std::string> eos;
  if (!args.template_file.empty()) {
    auto text = read_file(args.template_file, "template file");
    if (!text.ok()) return text.status();
    source = std::move(*text);
    origin = fmt::format("template '{}'", args.template_file);
  } else {
    auto file = gguf::File::open(args.model);
    if (!file.ok()) return file.status();
    const gguf::Value* chat_template = file->find("tokenizer.chat_template");
    if (chat_template == nullptr || chat_template->as_string() == nullptr) {
      return not_found("'{}' has no tokenizer.chat_template string; pass --template-file instead", args.model);
    }
    source = *chat_template->as_string();
    origin = fmt::format("chat template of '{}'", args.model);
    auto bos_text = special_token_text(*file, "tokenizer.ggml.bos_token_id");
    if (!bos_text.ok()) return bos_text.status().with_context(fmt::format("'{}'", args.model));
    auto eos_text = special_token_text(*file, "tokenizer.ggml.eos_token_id");
    if (!eos_text.ok()) return eos_text.status().with_context(fmt::format("'{}'", args.model));
    bos = *bos_text;
    eos = *eos_text;
  }
  if (args.bos_token.has_value()) bos = args.bos_token;
  if (args.eos_token.has_value()) eos = args.eos_token;

  auto document = read_json(args.messages_file, "messages file");
  if (!document.ok()) return document.status();
  auto inputs = chat::chat_inputs_from_json(*document);
  if (!inputs.ok()) return inputs.status().with_context(fmt::format("messages file '{}'", args.messages_file));
  if (!args.tools_file.empty()) {
    auto tools = read_json(args.tools_file, "tools file");
    if (!tools.ok()) return tools.status();
    inputs->tools = std::move(*tools);
  }
  inputs->add_generation_prompt = args.add_generation_prompt;
  inputs->bos_token = bos;
  inputs->eos_token = eos;

  auto parsed = chat::ChatTemplate::parse(source);
  if (!parsed.ok()) return Status(parsed.status().code(), one_line(parsed.status().message())).with_context(origin);
  auto prompt = parsed->apply(*inputs);
  if (!prompt.ok()) return Status(prompt.status().code(), one_line(prompt.status().message())).with_context(origin);
  if (std::fwrite(prompt->data(), 1, prompt->size(), stdout) != prompt->size() || std::fflush(stdout) != 0) {
    return io_error("writing to standard output failed");
  }
  return {};
}

const bool registered = register_command({
    .name = "template",
    .description = "render a chat template for a conversation (messages in OpenAI JSON format)",
    .order = 75,
    .setup =
        [](CLI::App& app) {
          auto args = std::make_shared<TemplateArgs>();
          app.add_option("--template-file", args->template_file, "Jinja2 chat template file");
          app.add_option("-m,--model", args->model, "GGUF model whose tokenizer.chat_template to use");
          app.add_option("--messages", args->messages_file,
                         "JSON file: an array of messages, or an object with \"messages\" (and \"tools\")")
              ->required();
          app.add_option("--tools", args->tools_file, "JSON file with an array of tool definitions");
          app.add_flag("--add-generation-prompt", args->add_generation_prompt,
                       "end with the prompt for the assistant's reply");
          app.add_option("--bos-token", args->bos_token, "bos_token text (default: the model's BOS token)");
          app.add_option("--eos-token", args->eos_token, "eos_token text (default: the model's EOS token)");
          return [args]() { return run_template(*args); };
        },
});

}  // namespace
}  // namespace strata::cli
