// Tokenizer: special-token partitioning, then BPE or SPM per text fragment; decoding pieces.
#include "tokenizer/tokenizer.h"

#include <limits>
#include <optional>
#include <unordered_map>
#include <utility>

#include "tokenizer/bpe_model.h"
#include "tokenizer/byte_encoding.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/spm_model.h"
#include "tokenizer/token_index.h"
#include "core/utf8.h"

namespace strata::tokenizer {
namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK
constexpr size_t kWordCacheMinText = 4096;

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    const size_t found = text.find(from, pos);
    if (found == std::string_view::npos) break;
    out.append(text.substr(pos, found - pos));
    out.append(to);
    pos = found + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

// "<0x0A>" -> 0x0A.
std::optional<uint8_t> parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return std::nullopt;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(text[3]);
  const int lo = hex(text[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<uint8_t>(hi * 16 + lo);
}

// SentencePiece's remove_extra_whitespaces: no leading or trailing spaces, runs become one.
std::string collapse_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char c : text) {
    if (c == ' ') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

struct Tokenizer::State {
  Vocab vocab;
  TokenIndex index;
  std::optional<SpecialTokens> specials;
  std::optional<PreTokenizer> pre;
  std::optional<BpeModel> bpe;
  std::optional<SpmModel> spm;
  std::vector<std::string> pieces;  // decoded bytes per token
  std::vector<bool> hidden;         // control / unknown / unused: printed only on request
};

Result<Tokenizer> Tokenizer::create(Vocab vocab) {
  STRATA_TRY(validate_vocab(vocab));
  auto state = std::make_shared<State>();
  state->vocab = std::move(vocab);
  const Vocab& v = state->vocab;
  // The index views the strings now owned by the state, which never moves again.
  STRATA_ASSIGN_OR_RETURN(state->index, TokenIndex::build(v.tokens));
  state->specials.emplace(v);

  if (v.kind == VocabKind::kBpe) {
    STRATA_ASSIGN_OR_RETURN(PreTokenizerSpec spec, find_pre_tokenizer(v.pre));
    STRATA_ASSIGN_OR_RETURN(PreTokenizer pre, PreTokenizer::create(spec));
    state->pre.emplace(std::move(pre));
    STRATA_ASSIGN_OR_RETURN(BpeModel bpe, BpeModel::create(v, state->index, spec.ignore_merges));
    state->bpe.emplace(std::move(bpe));
  } else {
    STRATA_ASSIGN_OR_RETURN(SpmModel spm, SpmModel::create(v, state->index));
    state->spm.emplace(std::move(spm));
  }

  state->pieces.resize(v.size());
  state->hidden.resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string& text = v.tokens[i];
    const TokenType type = v.type_of(static_cast<TokenId>(i));
    std::string& piece = state->pieces[i];
    state->hidden[i] = type == TokenType::kControl || type == TokenType::kUnknown || type == TokenType::kUnused;
    if (type == TokenType::kControl || type == TokenType::kUnknown || type == TokenType::kUserDefined) {
      piece = text;  // special texts are stored as written, not byte-encoded
    } else if (const auto byte = type == TokenType::kByte ? parse_byte_token(text) : std::nullopt) {
      piece.assign(1, static_cast<char>(*byte));
    } else if (v.kind == VocabKind::kBpe) {
      piece = decode_byte_level(text);
    } else {
      piece = replace_all(text, kSpmSpace, " ");
    }
  }
  return Tokenizer(std::move(state));
}

Result<Tokenizer> Tokenizer::from_gguf(const gguf::File& file) {
  STRATA_ASSIGN_OR_RETURN(Vocab vocab, vocab_from_gguf(file));
  return create(std::move(vocab));
}

const Vocab& Tokenizer::vocab() const { return state_->vocab; }

std::string_view Tokenizer::pre_tokenizer_name() const {
  return state_->pre ? state_->pre->name() : std::string_view();
}

Result<std::vector<TokenId>> Tokenizer::tokenize(std::string_view text, const TokenizeOptions& options) const {
  const State& s = *state_;
  const Vocab& v = s.vocab;
  if (text.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max() / 4)) {
    return invalid_argument("text of {} bytes is too long to tokenize at once; split it below {} bytes",
                            text.size(), std::numeric_limits<int32_t>::max() / 4);
  }
  STRATA_TRY(check_utf8(text));

  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 2);
  if (options.add_special && v.add_bos) out.push_back(v.bos);

  std::vector<Fragment> fragments;
  s.specials->partition(text, options.parse_special, fragments);

  if (s.bpe) {
    BpeScratch scratch;
    std::vector<std::string_view> pieces;
    // Long texts repeat words: remember each piece's tokens (as a range of `out`) for this
    // call. Short texts skip it; building the map would cost more than it saves.
    const bool use_cache = text.size() >= kWordCacheMinText;
    std::unordered_map<std::string_view, std::pair<size_t, size_t>> cache;
    for (const Fragment& fragment : fragments) {
      if (fragment.token != kNoToken) {
        out.push_back(fragment.token);
        continue;
      }
      pieces.clear();
      STRATA_TRY(s.pre->split(fragment.text, pieces));
      for (std::string_view piece : pieces) {
        if (!use_cache || piece.size() < 2) {
          s.bpe->encode_piece(piece, s.index, out, scratch);
          continue;
        }
        const auto [it, inserted] = cache.try_emplace(piece, out.size(), 0);
        if (inserted) {
          s.bpe->encode_piece(piece, s.index, out, scratch);
          it->second.second = out.size() - it->second.first;
        } else {
          for (size_t i = 0; i < it->second.second; ++i) out.push_back(out[it->second.first + i]);
        }
      }
    }
  } else {
    SpmScratch scratch;
    bool after_special = true;  // the first fragment gets the prefix, as after a special token
    for (const Fragment& fragment : fragments) {
      if (fragment.token != kNoToken) {
        out.push_back(fragment.token);
        after_special = true;
        continue;
      }
      std::string normalized;
      if (v.add_space_prefix && after_special) normalized.push_back(' ');
      if (v.remove_extra_whitespaces) {
        normalized.append(collapse_spaces(fragment.text));
      } else {
        normalized.append(fragment.text);
      }
      s.spm->encode(replace_all(normalized, " ", kSpmSpace), s.index, out, scratch);
      after_special = false;
    }
  }

  if (options.add_special && v.add_eos) out.push_back(v.eos);
  return out;
}

Result<std::string_view> Tokenizer::piece(TokenId id, bool render_special) const {
  if (!contains(id)) {
    return invalid_argument("token id {} is outside the vocabulary (valid ids: 0..{})", id, size() - 1);
  }
  const auto i = static_cast<size_t>(id);
  if (state_->hidden[i] && !render_special) return std::string_view();
  return std::string_view(state_->pieces[i]);
}

Result<std::string> Tokenizer::detokenize(std::span<const TokenId> ids, const DetokenizeOptions& options) const {
  std::string out;
  for (TokenId id : ids) {
    STRATA_ASSIGN_OR_RETURN(std::string_view p, piece(id, options.render_special));
    out.append(p);
  }
  const Vocab& v = vocab();
  if (options.strip_leading_space && v.kind == VocabKind::kSpm && v.add_space_prefix && !out.empty() &&
      out[0] == ' ') {
    out.erase(0, 1);
  }
  return out;
}

}  // namespace strata::tokenizer
