// Which regexes split text before BPE, per tokenizer.ggml.pre value.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace strata::tokenizer {

struct PreTokenizerSpec {
  std::string_view name;  // canonical name of the family
  // Applied in order: each splits every piece of the previous one into its matches and the
  // text between them (nothing is dropped), as Hugging Face's "Isolated" Split does.
  std::vector<std::string_view> patterns;
  bool ignore_merges = false;    // a piece that is a whole token is emitted as is (llama3)
  bool default_add_bos = false;  // add BOS when tokenizer.ggml.add_bos_token is absent
};

// "" and "default" give the default family. Unknown names are an error that lists the known.
Result<PreTokenizerSpec> find_pre_tokenizer(std::string_view pre);

// Every accepted tokenizer.ggml.pre value, comma-separated, for messages and --help.
std::string known_pre_tokenizer_names();

}  // namespace strata::tokenizer
