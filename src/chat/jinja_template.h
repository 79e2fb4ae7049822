// A parsed Jinja2 template with the semantics Hugging Face uses for chat templates
// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, tojson,
// raise_exception, strftime_now). Parsing and rendering never throw: errors are Statuses
// whose message reads "<ErrorType> at <line>:<column>: <what went wrong>".
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/render_options.h"
#include "core/status.h"

namespace strata::chat {

namespace jinja {
struct Program;
}

class JinjaTemplate {
 public:
  // Parsed once; render() may then run concurrently from several threads.
  static Result<JinjaTemplate> parse(std::string_view source, const TemplateOptions& options = {});

  // Each (name, value) becomes a template variable; absent names are undefined.
  using Variables = std::vector<std::pair<std::string, const nlohmann::ordered_json*>>;
  Result<std::string> render(const Variables& variables, const RenderOptions& options = {}) const;
  // `variables` must be a JSON object; its keys become template variables.
  Result<std::string> render(const nlohmann::ordered_json& variables, const RenderOptions& options = {}) const;

  // The source after newline normalization (what line:column in errors refer to).
  const std::string& source() const;

 private:
  explicit JinjaTemplate(std::shared_ptr<const jinja::Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const jinja::Program> program_;
};

}  // namespace strata::chat
