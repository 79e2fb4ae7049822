// vocab_from_gguf: metadata keys -> Vocab, with type checks and llama.cpp's defaults.
#include "tokenizer/gguf_vocab.h"

#include <limits>
#include <optional>

#include "gguf/value.h"
#include "tokenizer/pre_tokenizer_spec.h"

namespace strata::tokenizer {
namespace {

constexpr std::string_view kPrefix = "tokenizer.ggml.";

std::string key_of(std::string_view name) { return std::string(kPrefix) + std::string(name); }

std::string describe(const gguf::Value& v) {
  if (!v.is_array()) return std::string(gguf::value_type_name(v.type()));
  return "array of " + std::string(gguf::value_type_name(v.array_type()));
}

Result<std::optional<std::string>> optional_string(const gguf::File& file, std::string_view name) {
  const gguf::Value* v = file.find(key_of(name));
  if (v == nullptr) return std::optional<std::string>();
  const std::string* s = v->as_string();
  if (s == nullptr) return corrupt("metadata key '{}' has type {}, expected string", key_of(name), describe(*v));
  return std::optional<std::string>(*s);
}

Result<std::optional<bool>> optional_bool(const gguf::File& file, std::string_view name) {
  const gguf::Value* v = file.find(key_of(name));
  if (v == nullptr) return std::optional<bool>();
  const std::optional<bool> b = v->as_bool();
  if (!b) return corrupt("metadata key '{}' has type {}, expected bool", key_of(name), describe(*v));
  return std::optional<bool>(*b);
}

// Token ids: absent keeps `fallback`; present must be a non-negative integer (its range is
// checked against the vocabulary later, by validate_vocab).
Status read_id(const gguf::File& file, std::string_view name, TokenId& id) {
  const gguf::Value* v = file.find(key_of(name));
  if (v == nullptr) return {};
  const std::optional<int64_t> value = v->as_int();
  if (!value) {
    return corrupt("metadata key '{}' has type {}, expected an integer token id", key_of(name), describe(*v));
  }
  if (*value < 0 || *value > std::numeric_limits<TokenId>::max()) {
    return corrupt("metadata key '{}' = {} is not a valid token id", key_of(name), *value);
  }
  id = static_cast<TokenId>(*value);
  return {};
}

Result<const std::vector<std::string>*> string_array(const gguf::File& file, std::string_view name, bool required) {
  const gguf::Value* v = file.find(key_of(name));
  if (v == nullptr) {
    if (!required) return static_cast<const std::vector<std::string>*>(nullptr);
    return not_found("metadata key '{}' is missing; a vocabulary needs it", key_of(name));
  }
  const std::vector<std::string>* strings = v->strings();
  if (!v->is_array() || strings == nullptr) {
    return corrupt("metadata key '{}' has type {}, expected array of string", key_of(name), describe(*v));
  }
  return strings;
}

}  // namespace

Result<Vocab> vocab_from_gguf(const gguf::File& file) {
  Vocab vocab;
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> model, optional_string(file, "model"));
  if (!model) return not_found("metadata key 'tokenizer.ggml.model' is missing; the file has no tokenizer");
  if (*model == "gpt2") {
    vocab.kind = VocabKind::kBpe;
  } else if (*model == "llama") {
    vocab.kind = VocabKind::kSpm;
  } else {
    return unsupported("tokenizer.ggml.model '{}' is not supported; strata reads 'gpt2' (byte-level BPE) and "
                       "'llama' (SentencePiece) vocabularies",
                       *model);
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<std::string> pre, optional_string(file, "pre"));
  vocab.pre = pre.value_or("");

  STRATA_ASSIGN_OR_RETURN(const std::vector<std::string>* tokens, string_array(file, "tokens", true));
  vocab.tokens = *tokens;
  const size_t n = vocab.tokens.size();

  if (const gguf::Value* v = file.find("tokenizer.ggml.scores")) {
    std::optional<std::vector<float>> scores = v->is_array() ? v->to_f32_vector() : std::nullopt;
    if (!scores) {
      return corrupt("metadata key 'tokenizer.ggml.scores' has type {}, expected array of f32", describe(*v));
    }
    vocab.scores = std::move(*scores);
  }
  if (const gguf::Value* v = file.find("tokenizer.ggml.token_type")) {
    std::optional<std::vector<int64_t>> types = v->is_array() ? v->to_i64_vector() : std::nullopt;
    if (!types) {
      return corrupt("metadata key 'tokenizer.ggml.token_type' has type {}, expected array of i32", describe(*v));
    }
    vocab.types.reserve(types->size());
    for (size_t i = 0; i < types->size(); ++i) {
      const int64_t t = (*types)[i];
      if (t < 0 || t > static_cast<int64_t>(TokenType::kByte)) {
        return corrupt("tokenizer.ggml.token_type[{}] = {}; expected 0..6 (1 normal, 2 unknown, 3 control, "
                       "4 user-defined, 5 unused, 6 byte)",
                       i, t);
      }
      vocab.types.push_back(static_cast<TokenType>(t));
    }
  }

  STRATA_ASSIGN_OR_RETURN(const std::vector<std::string>* merges,
                          string_array(file, "merges", vocab.kind == VocabKind::kBpe));
  if (merges != nullptr && vocab.kind == VocabKind::kBpe) vocab.merges = *merges;

  // Defaults first, as llama.cpp assumes them for SentencePiece vocabularies; a default
  // that does not fit this vocabulary is dropped rather than reported.
  if (vocab.kind == VocabKind::kSpm) {
    auto fits = [n](TokenId id) { return static_cast<size_t>(id) < n ? id : kNoToken; };
    vocab.bos = fits(1);
    vocab.eos = fits(2);
    vocab.unk = fits(0);
  }
  STRATA_TRY(read_id(file, "bos_token_id", vocab.bos));
  STRATA_TRY(read_id(file, "eos_token_id", vocab.eos));
  STRATA_TRY(read_id(file, "unknown_token_id", vocab.unk));
  STRATA_TRY(read_id(file, "padding_token_id", vocab.pad));
  STRATA_TRY(read_id(file, "seperator_token_id", vocab.sep));  // GGUF's spelling

  bool default_add_bos = vocab.kind == VocabKind::kSpm;
  if (vocab.kind == VocabKind::kBpe) {
    // An unknown pre-tokenizer is reported here already, with the list of known ones.
    STRATA_ASSIGN_OR_RETURN(PreTokenizerSpec spec, find_pre_tokenizer(vocab.pre));
    default_add_bos = spec.default_add_bos;
  }
  STRATA_ASSIGN_OR_RETURN(std::optional<bool> add_bos, optional_bool(file, "add_bos_token"));
  STRATA_ASSIGN_OR_RETURN(std::optional<bool> add_eos, optional_bool(file, "add_eos_token"));
  STRATA_ASSIGN_OR_RETURN(std::optional<bool> add_space_prefix, optional_bool(file, "add_space_prefix"));
  STRATA_ASSIGN_OR_RETURN(std::optional<bool> remove_extra, optional_bool(file, "remove_extra_whitespaces"));
  vocab.add_bos = add_bos.value_or(default_add_bos);
  vocab.add_eos = add_eos.value_or(false);
  // Byte-level BPE never prefixes a space (as in llama.cpp), whatever the key says.
  vocab.add_space_prefix = vocab.kind == VocabKind::kSpm && add_space_prefix.value_or(true);
  vocab.remove_extra_whitespaces = remove_extra.value_or(false);

  STRATA_TRY(validate_vocab(vocab));
  return vocab;
}

}  // namespace strata::tokenizer
