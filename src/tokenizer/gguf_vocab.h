// Reads a Vocab from a GGUF file's tokenizer.ggml.* metadata.
#pragma once

#include "core/status.h"
#include "gguf/file.h"
#include "tokenizer/vocab.h"

namespace strata::tokenizer {

// Required: tokenizer.ggml.model ("gpt2" or "llama"), tokenizer.ggml.tokens, and for "gpt2"
// tokenizer.ggml.merges. Absent optional keys take llama.cpp's defaults: SentencePiece
// vocabularies add BOS, prefix a space and use bos 1 / eos 2 / unk 0 when those exist;
// byte-level ones add BOS only for pre-tokenizers that expect it (llama3). Keys of the wrong
// type are an error naming the key, the type found and the type expected.
Result<Vocab> vocab_from_gguf(const gguf::File& file);

}  // namespace strata::tokenizer
