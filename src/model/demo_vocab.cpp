// The built-in demo vocabulary: GPT-2 byte tokens, a few hundred English merges, chat specials.
#include "model/demo_vocab.h"

#include <iterator>
#include <fmt/format.h>
#include <unordered_set>

namespace strata::model {
namespace {

// Merges in rank order, modelled on the first merges GPT-2 learned from English web text,
// so ordinary prose tokenizes into word pieces rather than bytes. "Ġ" is a leading space.
// Every left and right part is a byte or the result of an earlier merge (a test checks).
constexpr std::string_view kMerges[] = {
    "Ġ t", "Ġ a", "h e", "i n", "r e", "o n", "Ġt he", "e r", "Ġ s", "a t", "Ġ w", "Ġ o",
    "e n", "Ġ c", "i t", "i s", "a n", "o r", "e s", "Ġ b", "e d", "Ġ f", "in g", "Ġ p",
    "o u", "Ġa n", "a l", "a r", "Ġt o", "Ġ m", "Ġo f", "Ġ in", "Ġ d", "Ġ h", "Ġan d", "i c",
    "a s", "l e", "Ġt h", "i on", "o m", "l l", "en t", "Ġ n", "Ġ l", "s t", "Ġ re", "v e",
    "Ġ e", "r o", "l y", "Ġb e", "Ġ g", "Ġ T", "c t", "Ġ S", "i d", "o t", "Ġ I", "u t",
    "e t", "Ġ A", "Ġ is", "Ġ on", "i m", "a m", "o w", "a y", "a d", "s e", "Ġth at", "Ġ C",
    "i g", "Ġf or", "a c", "Ġ y", "v er", "u r", "Ġ u", "l d", "Ġs t", "Ġ M", "' s", "Ġ he",
    "Ġ it", "at ion", "it h", "i r", "c e", "Ġy ou", "i l", "Ġ B", "Ġw h", "o l", "Ġ P", "Ġw ith",
    "Ġ 1", "t er", "c h", "Ġa s", "Ġw e", "Ġ (", "n d", "i ll", "Ġ D", "i f", "Ġ 2", "a g",
    "er s", "k e", "Ġ \"", "Ġ H", "e m", "Ġc on", "Ġ W", "Ġ R", "he r", "Ġw as", "Ġ r", "o d",
    "Ġ F", "u l", "at e", "Ġa t", "r i", "p p", "o re", "ĠT he", "Ġs e", "u s", "Ġp ro", "Ġh a",
    "u m", "Ġa re", "Ġd e", "a in", "an d", "Ġo r", "ig h", "es t", "is t", "a b", "r om", "Ġ N",
    "t h", "Ġc om", "Ġ G", "u n", "o p", "0 0", "Ġ L", "Ġn ot", "es s", "Ġe x", "Ġ v", "re s",
    "Ġ E", "e w", "it y", "an t", "Ġb y", "e l", "o s", "or t", "o c", "q u", "Ġf rom", "a ve",
    "Ġh ave", "Ġs u", "i ve", "ou ld", "Ġs h", "Ġth is", "n t", "r a", "p e", "igh t", "ar t", "m ent",
    "a le", "' t", "en d", "Ġ O", "Ġ 3", "Ġ j", "Ġ k", "Ġ Y", "ĠT h", "Ġ U", "Ġ K", "Ġ J",
};

constexpr std::string_view kSpecials[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>",
                                                      "<|im_end|>"};

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::string byte_token_text(uint8_t byte) {
  // GPT-2 keeps printable Latin-1 bytes as their own code points and moves the others
  // (controls, space, soft hyphen, ...) to 256 + their rank among the moved bytes, so every
  // byte has a visible, whitespace-free spelling.
  auto printable = [](uint32_t b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174); };
  uint32_t cp = byte;
  if (!printable(byte)) {
    uint32_t rank = 0;
    for (uint32_t b = 0; b < byte; ++b) rank += printable(b) ? 0 : 1;
    cp = 256 + rank;
  }
  std::string text;
  append_utf8(text, cp);
  return text;
}

uint32_t demo_vocab_min_size() { return static_cast<uint32_t>(256 + std::size(kMerges) + std::size(kSpecials)); }

Result<DemoVocab> make_demo_vocab(uint32_t n_vocab) {
  if (n_vocab < demo_vocab_min_size()) {
    return invalid_argument("n_vocab {} is too small for the built-in demo vocabulary; use at least {} or --vocab FILE",
                            n_vocab, demo_vocab_min_size());
  }
  DemoVocab vocab;
  vocab.tokens.reserve(n_vocab);
  vocab.token_types.reserve(n_vocab);
  std::unordered_set<std::string> known;
  auto add = [&](std::string text, TokenType type) {
    known.insert(text);
    vocab.tokens.push_back(std::move(text));
    vocab.token_types.push_back(static_cast<int32_t>(type));
  };
  // Byte-level vocabularies converted by llama.cpp mark byte tokens as normal tokens.
  for (uint32_t b = 0; b < 256; ++b) add(byte_token_text(static_cast<uint8_t>(b)), TokenType::kNormal);

  for (std::string_view merge : kMerges) {
    const size_t space = merge.find(' ');
    const std::string left(merge.substr(0, space));
    const std::string right(merge.substr(space + 1));
    std::string joined = left + right;
    if (space == std::string_view::npos || !known.contains(left) || !known.contains(right) || known.contains(joined)) {
      return internal_error("demo vocabulary merge '{}' is not valid at its rank", merge);
    }
    vocab.merges.emplace_back(merge);
    add(std::move(joined), TokenType::kNormal);
  }

  const auto first_special = static_cast<uint32_t>(vocab.tokens.size());
  for (std::string_view special : kSpecials) add(std::string(special), TokenType::kControl);
  vocab.bos_id = first_special;
  vocab.eos_id = first_special + 1;
  vocab.eot_id = first_special + 3;

  // Padding as llama.cpp's converter writes it for vocabularies smaller than the embedding.
  while (vocab.tokens.size() < n_vocab) add(fmt::format("[PAD{}]", vocab.tokens.size()), TokenType::kUnused);
  return vocab;
}

std::string_view demo_chat_template() {
  return "{% for message in messages %}"
         "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
         "{% endfor %}"
         "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
}

}  // namespace strata::model
