// Chat messages and tools of a request (see chat_messages.h).
#include "server/chat_messages.h"

#include <string>

namespace strata::server {

namespace {

// Text of a content value; parts other than text are refused (this server runs text models).
ApiResult<Json> message_content(const Json& content, const std::string& param, bool null_allowed) {
  if (content.is_string()) return content;
  if (content.is_null()) {
    if (null_allowed) return Json(nullptr);
    return bad_request(param, "'{}' is required (a string or an array of text parts)", param);
  }
  if (!content.is_array()) {
    return bad_request(param, "invalid type for '{}': expected a string or an array of content parts, but got {} instead",
                       param, json_type_phrase(content));
  }
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const std::string part_param = fmt::format("{}[{}]", param, i);
    if (!part.is_object()) {
      return bad_request(part_param, "invalid type for '{}': expected an object, but got {} instead", part_param,
                         json_type_phrase(part));
    }
    FieldReader fields(part, part_param);
    const std::optional<std::string> type = fields.string("type");
    if (fields.failed()) return fields.error();
    if (!type) return bad_request(fields.param("type"), "'{}' is required (\"text\")", fields.param("type"));
    if (*type != "text") {
      return bad_request(fields.param("type"),
                         "content part type '{}' is not supported: this server runs text models; send \"text\" parts",
                         *type);
    }
    const std::optional<std::string> part_text = fields.string("text");
    if (fields.failed()) return fields.error();
    if (!part_text) return bad_request(fields.param("text"), "'{}' is required", fields.param("text"));
    if (i > 0) text += '\n';
    text += *part_text;
  }
  return Json(std::move(text));
}

}  // namespace

ApiResult<Json> normalize_chat_messages(const Json* messages) {
  if (messages == nullptr) return bad_request("messages", "'messages' is required: an array of {{role, content}}");
  if (!messages->is_array()) {
    return bad_request("messages", "invalid type for 'messages': expected an array, but got {} instead",
                       json_type_phrase(*messages));
  }
  if (messages->empty()) {
    return bad_request("messages", "'messages' is empty; send at least one message, e.g. {{\"role\": \"user\", "
                                   "\"content\": \"Hello\"}}");
  }
  Json out = Json::array();
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& message = (*messages)[i];
    const std::string path = fmt::format("messages[{}]", i);
    if (!message.is_object()) {
      return bad_request(path, "invalid type for '{}': expected an object, but got {} instead", path,
                         json_type_phrase(message));
    }
    FieldReader fields(message, path);
    std::optional<std::string> role = fields.string("role");
    fields.string("name");  // read for the type check only; the template gets the message as sent
    fields.string("tool_call_id");
    if (fields.failed()) return fields.error();
    if (!role) return bad_request(fields.param("role"), "'{}' is required", fields.param("role"));
    if (*role == "developer") role = "system";  // OpenAI's newer name; templates know "system"
    if (*role != "system" && *role != "user" && *role != "assistant" && *role != "tool") {
      return bad_request(fields.param("role"),
                         "invalid value for '{}': '{}'; supported roles are system, developer, user, assistant and tool",
                         fields.param("role"), *role);
    }
    const Json* tool_calls = fields.find("tool_calls");
    if (tool_calls != nullptr && (*role != "assistant" || !tool_calls->is_array())) {
      return bad_request(fields.param("tool_calls"), "'{}' must be an array, and only assistant messages have it",
                         fields.param("tool_calls"));
    }
    const auto content_it = message.find("content");
    const Json content = content_it == message.end() ? Json(nullptr) : *content_it;
    ApiResult<Json> text = message_content(content, fields.param("content"), *role == "assistant");
    if (!text.ok()) return text.error();

    Json normalized = message;  // keeps name, tool_calls, tool_call_id, ... for the template
    normalized["role"] = *role;
    normalized["content"] = std::move(text).value();
    out.push_back(std::move(normalized));
  }
  return out;
}

ApiResult<Json> check_chat_tools(const Json* tools) {
  if (tools == nullptr) return Json(nullptr);
  if (!tools->is_array()) {
    return bad_request("tools", "invalid type for 'tools': expected an array, but got {} instead",
                       json_type_phrase(*tools));
  }
  for (size_t i = 0; i < tools->size(); ++i) {
    const Json& tool = (*tools)[i];
    const std::string path = fmt::format("tools[{}]", i);
    if (!tool.is_object()) {
      return bad_request(path, "invalid type for '{}': expected an object, but got {} instead", path,
                         json_type_phrase(tool));
    }
    FieldReader fields(tool, path);
    const std::optional<std::string> type = fields.string("type");
    const Json* function = fields.object("function");
    if (fields.failed()) return fields.error();
    if (type && *type != "function") {
      return bad_request(fields.param("type"), "invalid value for '{}': '{}'; only \"function\" tools are supported",
                         fields.param("type"), *type);
    }
    if (function == nullptr) return bad_request(fields.param("function"), "'{}' is required", fields.param("function"));
    FieldReader function_fields(*function, fields.param("function"));
    const std::optional<std::string> name = function_fields.string("name");
    if (function_fields.failed()) return function_fields.error();
    if (!name || name->empty()) {
      return bad_request(function_fields.param("name"), "'{}' is required", function_fields.param("name"));
    }
  }
  return *tools;
}

}  // namespace strata::server
