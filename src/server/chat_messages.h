// Checking and normalizing the "messages" and "tools" of a chat completion request into what
// chat templates expect.
#pragma once

#include "server/json_fields.h"

namespace strata::server {

// A non-empty array of {role, content, ...}: roles system, developer (becomes system), user,
// assistant, tool; content a string, an array of text parts (joined with "\n"), or null for an
// assistant message. Errors name the message and field, e.g. param "messages[2].role".
ApiResult<Json> normalize_chat_messages(const Json* messages);

// Null, or an array of {"type": "function", "function": {"name": ...}} passed to the template.
ApiResult<Json> check_chat_tools(const Json* tools);

}  // namespace strata::server
