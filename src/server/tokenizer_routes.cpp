// /tokenize and /detokenize (see tokenizer_routes.h).
#include "server/tokenizer_routes.h"

#include "server/http_reply.h"
#include "server/openai_schema.h"
#include "core/utf8.h"

namespace strata::server {

void handle_tokenize(const ServerContext& ctx, const std::string& body, httplib::Response& res) {
  ApiResult<TokenizeRequest> request = parse_tokenize_request(body);
  if (!request.ok()) return send_error(res, request.error());
  const tokenizer::Tokenizer& tok = ctx.model.tokenizer;
  auto ids = tok.tokenize(request->content,
                          {.add_special = request->add_special, .parse_special = request->parse_special});
  if (!ids.ok()) return send_error(res, bad_request("content", "tokenizing failed: {}", ids.status().message()));
  Json tokens = Json::array();
  for (const int32_t id : *ids) {
    if (!request->with_pieces) {
      tokens.push_back(id);
      continue;
    }
    auto piece = tok.piece(id, /*render_special=*/true);
    const std::string_view text = piece.ok() ? *piece : std::string_view();
    Json entry;
    entry["id"] = id;
    // As llama-server: a piece that is not valid UTF-8 on its own (a byte of a character)
    // is given as its bytes.
    if (find_invalid_utf8(text).has_value()) {
      Json bytes = Json::array();
      for (const char c : text) bytes.push_back(static_cast<uint8_t>(c));
      entry["piece"] = std::move(bytes);
    } else {
      entry["piece"] = std::string(text);
    }
    tokens.push_back(std::move(entry));
  }
  send_json(res, Json{{"tokens", std::move(tokens)}});
}

void handle_detokenize(const ServerContext& ctx, const std::string& body, httplib::Response& res) {
  const RequestLimits limits{static_cast<int32_t>(ctx.model.tokenizer.size()), ctx.model.n_ctx};
  ApiResult<DetokenizeRequest> request = parse_detokenize_request(body, limits);
  if (!request.ok()) return send_error(res, request.error());
  auto text = ctx.model.tokenizer.detokenize(request->tokens);
  if (!text.ok()) return send_error(res, bad_request("tokens", "detokenizing failed: {}", text.status().message()));
  // Byte tokens can leave half a character; JSON needs whole ones.
  send_json(res, Json{{"content", sanitize_utf8(*text)}});
}

}  // namespace strata::server
