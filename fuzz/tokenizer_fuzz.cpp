// Fuzzes tokenize -> detokenize -> stream-decode on small built-in vocabularies of each kind.
// The first input byte picks the vocabulary and the options; the rest is the text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/byte_encoding.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "core/utf8.h"

namespace {

using namespace strata::tokenizer;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::string spell(std::string_view raw) {
  std::string out;
  for (char c : raw) out.append(byte_to_utf8(static_cast<uint8_t>(c)));
  return out;
}

// Byte-level BPE: every byte, some English merges, a control and a user-defined token.
Vocab bpe_vocab(std::string pre) {
  Vocab v;
  v.kind = VocabKind::kBpe;
  v.pre = std::move(pre);
  v.add_space_prefix = false;
  for (unsigned b = 0; b < 256; ++b) v.tokens.emplace_back(byte_to_utf8(static_cast<uint8_t>(b)));
  const char* merges[][2] = {{" ", "t"}, {"h", "e"}, {" t", "he"}, {"i", "n"}, {"e", "r"}, {" ", "a"},
                             {"o", "n"}, {" a", "n"}, {" an", "d"}, {"\n", "\n"}, {"1", "2"}, {"\xE4", "\xB8"},
                             {"\xF0", "\x9F"}, {"in", "g"}, {" ", " "}, {"  ", "  "}};
  for (const auto& m : merges) {
    v.merges.push_back(spell(m[0]) + " " + spell(m[1]));
    const std::string joined = spell(std::string(m[0]) + m[1]);
    bool known = false;
    for (const std::string& t : v.tokens) known = known || t == joined;
    if (!known) v.tokens.push_back(joined);
  }
  v.types.assign(v.tokens.size(), TokenType::kNormal);
  v.tokens.push_back("<|end|>");
  v.types.push_back(TokenType::kControl);
  v.eos = static_cast<TokenId>(v.tokens.size() - 1);
  v.tokens.push_back("<tool>");
  v.types.push_back(TokenType::kUserDefined);
  v.add_eos = true;
  return v;
}

// SentencePiece: <unk> <s> </s>, optional byte tokens, pieces with scores.
Vocab spm_vocab(bool byte_fallback) {
  Vocab v;
  v.kind = VocabKind::kSpm;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {TokenType::kUnknown, TokenType::kControl, TokenType::kControl};
  v.scores = {0, 0, 0};
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  v.add_bos = true;
  if (byte_fallback) {
    static const char* hex = "0123456789ABCDEF";
    for (unsigned b = 0; b < 256; ++b) {
      v.tokens.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
      v.types.push_back(TokenType::kByte);
      v.scores.push_back(0);
    }
  }
  const char* pieces[] = {"▁", "t", "h", "e", "a", "n", "d", "i", "g", "▁t", "he", "▁the", "in", "ing", "er",
                          "▁a", "▁an", "▁and", "中", "文", "中文", "▁▁", "<", ">", "s"};
  float score = -1;
  for (const char* p : pieces) {
    v.tokens.push_back(p);
    v.types.push_back(TokenType::kNormal);
    v.scores.push_back(score);
    score -= 0.25f;
  }
  return v;
}

struct Case {
  Tokenizer tokenizer;
  bool lossless;  // every valid text decodes back exactly (given no special tokens)
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = [] {
    std::vector<Case> out;
    for (const char* pre : {"gpt-2", "llama3", "qwen2", "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon",
                            "starcoder", "default", "tekken"}) {
      auto t = Tokenizer::create(bpe_vocab(pre));
      check(t.ok());
      out.push_back({std::move(*t), true});
    }
    for (bool byte_fallback : {true, false}) {
      auto t = Tokenizer::create(spm_vocab(byte_fallback));
      check(t.ok());
      out.push_back({std::move(*t), byte_fallback});
    }
    return out;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 4096) return 0;
  const uint8_t selector = data[0];
  const std::string_view raw(reinterpret_cast<const char*>(data + 1), size - 1);
  const Case& c = cases()[selector % cases().size()];
  const bool parse_special = (selector & 0x40) != 0;
  const bool add_special = (selector & 0x80) != 0;
  const Tokenizer& tok = c.tokenizer;

  // Invalid UTF-8 is refused, valid text always tokenizes.
  const bool valid = !strata::find_invalid_utf8(raw).has_value();
  check(tok.tokenize(raw).ok() == valid);
  const std::string text = valid ? std::string(raw) : strata::sanitize_utf8(raw);
  auto ids = tok.tokenize(text, {.add_special = add_special, .parse_special = parse_special});
  check(ids.ok());
  check(ids->size() <= text.size() + 2);

  const DetokenizeOptions options{.render_special = parse_special, .strip_leading_space = true};
  auto decoded = tok.detokenize(*ids, options);
  check(decoded.ok());

  StreamDecoder stream(tok, options);
  std::string streamed;
  for (TokenId id : *ids) {
    auto chunk = stream.push(id);
    check(chunk.ok());
    check(!strata::find_invalid_utf8(*chunk).has_value());
    streamed += *chunk;
  }
  streamed += stream.finish();
  check(streamed == strata::sanitize_utf8(*decoded));

  bool has_special = false;
  for (TokenId id : *ids) has_special = has_special || tok.type(id) == TokenType::kUserDefined ||
                                        tok.type(id) == TokenType::kControl;
  // SentencePiece spells spaces as U+2581 and cannot tell a typed U+2581 apart from a space.
  const bool spm = tok.vocab().kind == VocabKind::kSpm;
  const bool ambiguous = spm && (text.find("\xE2\x96\x81") != std::string::npos || has_special);
  if (c.lossless && !parse_special && !ambiguous) {
    auto plain = tok.tokenize(text, {.add_special = false, .parse_special = false});
    check(plain.ok());
    auto back = tok.detokenize(*plain);
    check(back.ok() && *back == text);
  }
  return 0;
}
