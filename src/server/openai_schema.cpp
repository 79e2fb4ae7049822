// Parsing and validation of OpenAI-compatible request bodies (see openai_schema.h).
#include "server/openai_schema.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "chat/stop_strings.h"
#include "server/chat_messages.h"

namespace strata::server {

namespace {

constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

std::vector<std::string> read_stop(FieldReader& fields) {
  std::vector<std::string> stops;
  const Json* stop = fields.find("stop");
  if (fields.failed() || stop == nullptr) return stops;
  if (stop->is_string()) {
    stops.push_back(stop->get<std::string>());
  } else if (stop->is_array()) {
    for (size_t i = 0; i < stop->size(); ++i) {
      if (!(*stop)[i].is_string()) {
        fields.fail(bad_request("stop", "invalid type for 'stop[{}]': expected a string, but got {} instead", i,
                                json_type_phrase((*stop)[i])));
        return {};
      }
      stops.push_back((*stop)[i].get<std::string>());
    }
  } else {
    fields.fail(bad_request("stop", "invalid type for 'stop': expected a string or an array of strings, but got {} "
                                    "instead",
                            json_type_phrase(*stop)));
    return {};
  }
  // The matcher owns the limits on count and length; ask it now so errors are 400s here.
  if (auto matcher = chat::StopStringMatcher::create(stops); !matcher.ok()) {
    fields.fail(bad_request("stop", "invalid 'stop': {}", matcher.status().message()));
    return {};
  }
  return stops;
}

std::vector<sampling::LogitBias> read_logit_bias(FieldReader& fields, int32_t n_vocab) {
  std::vector<sampling::LogitBias> biases;
  const Json* map = fields.object("logit_bias");
  if (fields.failed() || map == nullptr) return biases;
  for (auto it = map->begin(); it != map->end(); ++it) {
    const std::string& key = it.key();
    int64_t token = -1;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), token);
    if (key.empty() || ec != std::errc() || end != key.data() + key.size() || token < 0 || token >= n_vocab) {
      fields.fail(bad_request("logit_bias",
                              "invalid key '{}' in 'logit_bias': keys are token ids as strings, from \"0\" to \"{}\"",
                              key, n_vocab - 1));
      return {};
    }
    if (!it.value().is_number()) {
      fields.fail(bad_request("logit_bias", "invalid type for 'logit_bias[\"{}\"]': expected a number, but got {} instead",
                              key, json_type_phrase(it.value())));
      return {};
    }
    const double bias = it.value().get<double>();
    if (!(bias >= -100.0 && bias <= 100.0)) {
      fields.fail(bad_request("logit_bias", "'logit_bias[\"{}\"]' is {}, out of range; it must be between -100 and 100",
                              key, bias));
      return {};
    }
    // OpenAI: -100 bans the token.
    const float value = bias == -100.0 ? -std::numeric_limits<float>::infinity() : static_cast<float>(bias);
    biases.push_back({static_cast<int32_t>(token), value});
  }
  return biases;
}

// Fields we do not implement are refused rather than silently ignored when asking for them
// would change what the client gets back.
void refuse_unsupported(FieldReader& fields) {
  if (const Json* logprobs = fields.find("logprobs"); logprobs != nullptr && !fields.failed()) {
    if (!(logprobs->is_boolean() && !logprobs->get<bool>())) {
      fields.fail(bad_request("logprobs", "'logprobs' is not supported by this server; leave it out"));
    }
  }
  if (fields.find("top_logprobs") != nullptr) {
    fields.fail(bad_request("top_logprobs", "'top_logprobs' is not supported by this server; leave it out"));
  }
  if (const Json* format = fields.object("response_format"); format != nullptr) {
    FieldReader format_fields(*format, "response_format");
    const std::optional<std::string> type = format_fields.string("type");
    if (format_fields.failed()) {
      fields.fail(format_fields.error());
    } else if (type && *type != "text") {
      fields.fail(bad_request("response_format.type",
                              "response_format type '{}' is not supported by this server; use \"text\"", *type));
    }
  }
}

GenerationFields read_generation_fields(FieldReader& fields, const RequestLimits& limits,
                                        std::optional<int32_t> default_max_tokens) {
  GenerationFields out;
  sampling::SamplingParams& s = out.sampling;
  out.model = fields.string("model").value_or("");
  out.stream = fields.boolean("stream").value_or(false);
  if (const Json* options = fields.object("stream_options"); options != nullptr) {
    if (!out.stream) {
      fields.fail(bad_request("stream_options", "'stream_options' is only allowed when 'stream' is true"));
    } else {
      FieldReader option_fields(*options, "stream_options");
      out.include_usage = option_fields.boolean("include_usage").value_or(false);
      if (option_fields.failed()) fields.fail(option_fields.error());
    }
  }

  // max_completion_tokens is the newer name; -1 is llama.cpp's "no limit".
  for (const char* name : {"max_tokens", "max_completion_tokens"}) {
    const std::optional<int64_t> value = fields.integer(name, -1, kInt32Max);
    if (!value) continue;
    if (*value == 0) {
      fields.fail(bad_request(name, "'{}' is 0; it must be at least 1 (or -1 for no limit)", name));
    } else {
      out.max_tokens = static_cast<int32_t>(*value);
    }
  }
  if (!out.max_tokens) out.max_tokens = default_max_tokens;
  if (out.max_tokens == -1) out.max_tokens.reset();

  if (const std::optional<int64_t> n = fields.integer("n", 1, 128); n && *n != 1) {
    fields.fail(bad_request("n", "'n' is {}; this server generates one choice per request, so n must be 1", *n));
  }
  if (auto v = fields.number("temperature", 0.0, 2.0)) s.temperature = static_cast<float>(*v);
  if (auto v = fields.integer("top_k", 0, kInt32Max)) s.top_k = static_cast<int32_t>(*v);
  if (auto v = fields.number("top_p", 0.0, 1.0)) {
    if (*v == 0.0) {
      s.top_k = 1;  // OpenAI's top_p = 0 keeps only the most likely token
      s.top_p = 1.0f;
    } else {
      s.top_p = static_cast<float>(*v);
    }
  }
  if (auto v = fields.number("min_p", 0.0, 1.0)) s.min_p = static_cast<float>(*v);
  if (auto v = fields.number("typical_p", 0.0, 1.0)) {
    if (*v == 0.0) {
      fields.fail(bad_request("typical_p", "'typical_p' is 0; it must be in (0, 1] (1 turns it off)"));
    } else {
      s.typical_p = static_cast<float>(*v);
    }
  }
  if (auto v = fields.number("presence_penalty", -2.0, 2.0)) s.presence_penalty = static_cast<float>(*v);
  if (auto v = fields.number("frequency_penalty", -2.0, 2.0)) s.frequency_penalty = static_cast<float>(*v);
  if (auto v = fields.number("repeat_penalty", 0.0, 100.0)) {
    if (*v == 0.0) {
      fields.fail(bad_request("repeat_penalty", "'repeat_penalty' is 0; it must be in (0, 100] (1 turns it off)"));
    } else {
      s.repeat_penalty = static_cast<float>(*v);
    }
  }
  if (auto v = fields.integer("repeat_last_n", -1, sampling::kMaxPenaltyLastN)) {
    s.penalty_last_n = *v >= 0 ? static_cast<int32_t>(*v) : (limits.n_ctx > 0 ? limits.n_ctx : kDefaultPenaltyWindow);
  }
  if (auto v = fields.integer("seed", -1, static_cast<int64_t>(sampling::kRandomSeed) - 1)) {
    s.seed = *v == -1 ? sampling::kRandomSeed : static_cast<uint32_t>(*v);
  }
  out.stop = read_stop(fields);
  s.logit_bias = read_logit_bias(fields, limits.n_vocab);
  refuse_unsupported(fields);
  if (!fields.failed()) {
    if (Status status = sampling::validate(s, limits.n_vocab); !status.ok()) {
      fields.fail(bad_request(std::nullopt, "{}", status.message()));
    }
  }
  return out;
}

// Token ids: an array of integers inside the vocabulary.
std::optional<std::vector<int32_t>> read_token_ids(const Json& array, const std::string& param, int32_t n_vocab,
                                                   FieldReader& fields) {
  std::vector<int32_t> ids;
  ids.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    const Json& id = array[i];
    const bool in_range = id.is_number_integer() &&
                          (id.is_number_unsigned() ? id.get<uint64_t>() < static_cast<uint64_t>(n_vocab)
                                                   : id.get<int64_t>() >= 0 && id.get<int64_t>() < n_vocab);
    if (!in_range) {
      fields.fail(bad_request(param, "'{}[{}]' is {}, not a token id; ids are integers from 0 to {}", param, i,
                              id.dump(-1, ' ', false, Json::error_handler_t::replace), n_vocab - 1));
      return std::nullopt;
    }
    ids.push_back(id.get<int32_t>());
  }
  return ids;
}

void read_prompt(FieldReader& fields, const RequestLimits& limits, CompletionRequest& out) {
  const Json* prompt = fields.find("prompt");
  if (fields.failed()) return;
  if (prompt == nullptr) {
    fields.fail(bad_request("prompt", "'prompt' is required: a string or an array of token ids"));
    return;
  }
  // OpenAI also takes a batch (an array of prompts); one prompt per request here.
  const Json* single = prompt;
  if (prompt->is_array() && prompt->size() == 1 && ((*prompt)[0].is_string() || (*prompt)[0].is_array())) {
    single = &(*prompt)[0];
  } else if (prompt->is_array() && !prompt->empty() && ((*prompt)[0].is_string() || (*prompt)[0].is_array())) {
    fields.fail(bad_request("prompt", "'prompt' holds {} prompts; this server takes one prompt per request",
                            prompt->size()));
    return;
  }
  if (single->is_string()) {
    out.prompt = single->get<std::string>();
  } else if (single->is_array()) {
    if (single->empty()) {
      fields.fail(bad_request("prompt", "'prompt' is an empty array; give text or at least one token id"));
      return;
    }
    if (auto ids = read_token_ids(*single, "prompt", limits.n_vocab, fields)) out.prompt = std::move(*ids);
  } else {
    fields.fail(bad_request("prompt", "invalid type for 'prompt': expected a string or an array of token ids, but got "
                                      "{} instead",
                            json_type_phrase(*single)));
  }
}

ApiError limits_error() {
  return bad_request(std::nullopt, "the server has no vocabulary loaded (n_vocab = 0); this is a server bug");
}

}  // namespace

ApiResult<ChatCompletionRequest> parse_chat_completion_request(std::string_view body, const RequestLimits& limits) {
  if (limits.n_vocab <= 0) return limits_error();
  ApiResult<Json> document = parse_json_object(body);
  if (!document.ok()) return document.error();
  FieldReader fields(document.value());
  ChatCompletionRequest out;
  ApiResult<Json> messages = normalize_chat_messages(fields.find("messages"));
  if (!messages.ok()) return messages.error();
  out.messages = std::move(messages).value();
  ApiResult<Json> tools = check_chat_tools(fields.find("tools"));
  if (!tools.ok()) return tools.error();
  out.tools = std::move(tools).value();
  if (const Json* kwargs = fields.object("chat_template_kwargs")) out.template_kwargs = *kwargs;
  out.fields = read_generation_fields(fields, limits, std::nullopt);
  if (fields.failed()) return fields.error();
  return out;
}

ApiResult<CompletionRequest> parse_completion_request(std::string_view body, const RequestLimits& limits) {
  if (limits.n_vocab <= 0) return limits_error();
  ApiResult<Json> document = parse_json_object(body);
  if (!document.ok()) return document.error();
  FieldReader fields(document.value());
  CompletionRequest out;
  read_prompt(fields, limits, out);
  if (fields.boolean("echo").value_or(false)) {
    fields.fail(bad_request("echo", "'echo' is not supported by this server; leave it out or set it to false"));
  }
  if (auto suffix = fields.string("suffix"); suffix && !suffix->empty()) {
    fields.fail(bad_request("suffix", "'suffix' is not supported by this server; leave it out"));
  }
  if (auto best_of = fields.integer("best_of", 1, 128); best_of && *best_of != 1) {
    fields.fail(bad_request("best_of", "'best_of' is {}; this server generates one completion, so it must be 1",
                            *best_of));
  }
  out.fields = read_generation_fields(fields, limits, kDefaultCompletionMaxTokens);
  if (fields.failed()) return fields.error();
  return out;
}

ApiResult<TokenizeRequest> parse_tokenize_request(std::string_view body) {
  ApiResult<Json> document = parse_json_object(body);
  if (!document.ok()) return document.error();
  FieldReader fields(document.value());
  TokenizeRequest out;
  std::optional<std::string> content = fields.string("content");
  out.add_special = fields.boolean("add_special").value_or(false);
  out.parse_special = fields.boolean("parse_special").value_or(true);
  out.with_pieces = fields.boolean("with_pieces").value_or(false);
  if (fields.failed()) return fields.error();
  if (!content) return bad_request("content", "'content' is required: the text to tokenize");
  out.content = std::move(*content);
  return out;
}

ApiResult<DetokenizeRequest> parse_detokenize_request(std::string_view body, const RequestLimits& limits) {
  if (limits.n_vocab <= 0) return limits_error();
  ApiResult<Json> document = parse_json_object(body);
  if (!document.ok()) return document.error();
  FieldReader fields(document.value());
  const Json* tokens = fields.find("tokens");
  if (tokens == nullptr) return bad_request("tokens", "'tokens' is required: an array of token ids");
  if (!tokens->is_array()) {
    return bad_request("tokens", "invalid type for 'tokens': expected an array, but got {} instead",
                       json_type_phrase(*tokens));
  }
  std::optional<std::vector<int32_t>> ids = read_token_ids(*tokens, "tokens", limits.n_vocab, fields);
  if (!ids) return fields.error();
  return DetokenizeRequest{std::move(*ids)};
}

}  // namespace strata::server
