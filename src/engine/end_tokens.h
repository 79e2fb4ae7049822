// The tokens that end a generation: the vocabulary's EOS plus the end-of-turn and end-of-message
// tokens the GGUF names (Llama 3's <|eot_id|>, <|eom_id|>), and the chat end markers of known
// templates when the vocabulary has them as control tokens (ChatML's <|im_end|>, ...).
#pragma once

#include <cstdint>
#include <vector>

#include "gguf/file.h"
#include "tokenizer/tokenizer.h"

namespace strata::engine {

// Sorted, without duplicates; empty when the file names none (generation then runs to its limit).
std::vector<int32_t> end_of_generation_tokens(const gguf::File& file, const tokenizer::Tokenizer* tokenizer);

}  // namespace strata::engine
