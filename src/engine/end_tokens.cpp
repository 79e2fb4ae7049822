// end_of_generation_tokens(): EOS, the GGUF's EOT/EOM ids, and well-known end markers.
#include "engine/end_tokens.h"

#include <algorithm>
#include <string_view>

namespace strata::engine {
namespace {

// Markers that close an assistant turn in common chat templates. Models whose GGUF names a
// different EOS still stop on these, as llama.cpp does, because the template writes them.
constexpr std::string_view kEndMarkers[] = {
    "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<|endoftext|>", "<end_of_turn>",
    "<｜end▁of▁sentence｜>",
};

}  // namespace

std::vector<int32_t> end_of_generation_tokens(const gguf::File& file, const tokenizer::Tokenizer* tokenizer) {
  std::vector<int32_t> ids;
  if (tokenizer != nullptr && tokenizer->eos() != tokenizer::kNoToken) ids.push_back(tokenizer->eos());
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    const gguf::Value* value = file.find(key);
    if (value == nullptr) continue;
    const std::optional<uint64_t> id = value->as_uint();
    if (id && *id <= INT32_MAX) ids.push_back(static_cast<int32_t>(*id));
  }
  if (tokenizer != nullptr) {
    const tokenizer::Vocab& vocab = tokenizer->vocab();
    for (size_t id = 0; id < vocab.tokens.size(); ++id) {
      const auto token = static_cast<tokenizer::TokenId>(id);
      const tokenizer::TokenType type = vocab.type_of(token);
      if (type != tokenizer::TokenType::kControl && type != tokenizer::TokenType::kUserDefined) continue;
      if (std::find(std::begin(kEndMarkers), std::end(kEndMarkers), vocab.tokens[id]) != std::end(kEndMarkers)) {
        ids.push_back(token);
      }
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace strata::engine
