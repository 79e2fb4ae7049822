// Public template API: parse and render, turning engine errors into Statuses.
#include "chat/jinja_template.h"

#include <new>

#include "chat/jinja_ast.h"
#include "chat/jinja_error.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_json.h"
#include "chat/jinja_lexer.h"
#include "chat/jinja_parser.h"

namespace strata::chat {

namespace jinja {

std::string_view error_type_name(ErrorType type) {
  switch (type) {
    case ErrorType::kSyntax: return "TemplateSyntaxError";
    case ErrorType::kUndefined: return "UndefinedError";
    case ErrorType::kType: return "TypeError";
    case ErrorType::kValue: return "ValueError";
    case ErrorType::kZeroDivision: return "ZeroDivisionError";
    case ErrorType::kIndex: return "IndexError";
    case ErrorType::kRaised: return "TemplateError";
    case ErrorType::kRuntime: return "TemplateRuntimeError";
    case ErrorType::kLimit: return "LimitExceeded";
  }
  return "TemplateError";
}

}  // namespace jinja

namespace {

Status to_status(const jinja::Error& e, std::string_view source) {
  const ErrorCode code = e.type() == jinja::ErrorType::kLimit ? ErrorCode::kResourceExhausted
                                                               : ErrorCode::kInvalidArgument;
  if (!e.has_offset()) {
    return Status(code, fmt::format("{}: {}", jinja::error_type_name(e.type()), e.message()));
  }
  const jinja::SourcePosition p = jinja::position_of(source, e.offset());
  return Status(code, fmt::format("{} at {}:{}: {}", jinja::error_type_name(e.type()), p.line, p.column, e.message()));
}

}  // namespace

Result<JinjaTemplate> JinjaTemplate::parse(std::string_view source, const TemplateOptions& options) {
  if (source.size() > options.max_source_bytes) {
    return invalid_argument("template is {} bytes; at most {} are accepted", source.size(), options.max_source_bytes);
  }
  jinja::ParseOptions parse_options;
  parse_options.max_depth = options.max_depth;
  try {
    return JinjaTemplate(jinja::parse_program(source, parse_options));
  } catch (const jinja::Error& e) {
    return to_status(e, jinja::normalize_source(source, parse_options.keep_trailing_newline));
  } catch (const std::bad_alloc&) {
    return resource_exhausted("out of memory while parsing the template");
  } catch (const std::exception& e) {
    return internal_error("template parser failed: {}", e.what());
  }
}

Result<std::string> JinjaTemplate::render(const Variables& variables, const RenderOptions& options) const {
  try {
    jinja::Interpreter interpreter(options.limits, options.clock);
    std::vector<std::pair<std::string, jinja::Value>> values;
    values.reserve(variables.size());
    for (const auto& [name, json] : variables) {
      if (json != nullptr) values.emplace_back(name, jinja::from_json(interpreter, *json));
    }
    return interpreter.render(*program_, std::move(values));
  } catch (const jinja::Error& e) {
    return to_status(e, program_->source);
  } catch (const std::bad_alloc&) {
    return resource_exhausted("out of memory while rendering the template");
  } catch (const std::exception& e) {
    return internal_error("template rendering failed: {}", e.what());
  }
}

Result<std::string> JinjaTemplate::render(const nlohmann::ordered_json& variables, const RenderOptions& options) const {
  if (!variables.is_object()) {
    return invalid_argument("template variables must be a JSON object, got {}", variables.type_name());
  }
  Variables list;
  list.reserve(variables.size());
  for (auto it = variables.begin(); it != variables.end(); ++it) list.emplace_back(it.key(), &it.value());
  return render(list, options);
}

const std::string& JinjaTemplate::source() const { return program_->source; }

}  // namespace strata::chat
