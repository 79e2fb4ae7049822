// The pre-tokenizer table. Patterns are the models' own (their tokenizer.json Split regexes),
// written for PCRE2; case-insensitive contractions are spelled out ('[sS]) so that only ASCII
// letters match, as llama.cpp does, rather than Unicode case folding (which would accept ſ).
#include "tokenizer/pre_tokenizer_spec.h"


namespace strata::tokenizer {
namespace {

// GPT-2: contractions, letters, digits, other symbols (each with an optional leading space),
// then whitespace that is not followed by a non-space.
constexpr std::string_view kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";

// Llama 3 (and tiktoken cl100k-style vocabularies): digits in groups of up to three.
constexpr std::string_view kLlama3 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// Qwen2: as Llama 3 but single digits.
constexpr std::string_view kQwen2 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// DeepSeek LLM: newlines alone; runs of cased letters (the explicit class below is Unicode's
// cased-letter set as DeepSeek's tokenizer.json lists it); ASCII and full-width punctuation;
// trailing whitespace; CJK and Hangul runs; digit runs.
constexpr std::string_view kDeepseekLlmNewlines = R"re([\r\n])re";
constexpr std::string_view kDeepseekLlmLetters =
    R"re(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293})re"
    R"re(\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A})re"
    R"re(\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556})re"
    R"re(\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF})re"
    R"re(\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D})re"
    R"re(\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D})re"
    R"re(\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3})re"
    R"re(\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107})re"
    R"re(\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D})re"
    R"re(\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184})re"
    R"re(\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D})re"
    R"re(\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF})re"
    R"re(\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F})re"
    R"re(\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2})re"
    R"re(\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)re";
constexpr std::string_view kDeepseekLlmPunctuation =
    R"re(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)re";
constexpr std::string_view kTrailingSpace = R"re(\s+$)re";
constexpr std::string_view kCjkHangul = R"re([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re";
constexpr std::string_view kDigitRuns = R"re(\p{N}+)re";

// DeepSeek Coder.
constexpr std::string_view kLetterRunsWithSpace = R"re(\s?\p{L}+)re";
constexpr std::string_view kPunctuationRunsWithSpace = R"re(\s?\p{P}+)re";
constexpr std::string_view kSingleDigit = R"re(\p{N})re";

// DeepSeek V3 / R1.
constexpr std::string_view kDigitsUpTo3 = R"re(\p{N}{1,3})re";
constexpr std::string_view kCjkKana = R"re([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)re";
constexpr std::string_view kDeepseekV3Main =
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// Falcon and llama.cpp's "default".
constexpr std::string_view kFalconPunctuation = R"re([\p{P}\$\+<=>\^~\|`]+)re";
constexpr std::string_view kDefaultPunctuation = R"re([\p{P}\$\+<=>\^~\|]+)re";
constexpr std::string_view kThreeAsciiDigits = R"re([0-9][0-9][0-9])re";

// BLOOM-style: everything up to whitespace or sentence punctuation.
constexpr std::string_view kBloom = R"re( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+)re";

// Tekken (Mistral Nemo) and GPT-4o (o200k): case-aware words.
constexpr std::string_view kTekken =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
constexpr std::string_view kGpt4o =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

constexpr std::string_view kSeedCoder =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)re";

struct Family {
  std::vector<std::string_view> names;
  PreTokenizerSpec spec;
};

const std::vector<Family>& families() {
  static const std::vector<Family> table = {
      {{"default"},
       {"default", {kDefaultPunctuation, kGpt2, kDigitRuns, kThreeAsciiDigits}, false, false}},
      {{"gpt-2", "gpt2", "gpt-neox", "mpt", "olmo", "jais", "phi-2", "jina-es", "jina-de", "jina-v2-es",
        "jina-v2-de", "jina-v1-en", "jina-v2-code", "roberta-bpe", "gigachat", "exaone4"},
       {"gpt-2", {kGpt2}, false, false}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "dbrx", "smaug-bpe"},
       {"llama3", {kLlama3}, true, true}},
      {{"chatglm-bpe", "glm4"}, {"chatglm-bpe", {kLlama3}, false, false}},
      {{"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"}, {"qwen2", {kQwen2}, false, false}},
      {{"deepseek-llm"},
       {"deepseek-llm",
        {kDeepseekLlmNewlines, kDeepseekLlmLetters, kDeepseekLlmPunctuation, kTrailingSpace, kCjkHangul, kDigitRuns},
        false,
        false}},
      {{"deepseek-coder"},
       {"deepseek-coder",
        {kDeepseekLlmNewlines, kLetterRunsWithSpace, kPunctuationRunsWithSpace, kCjkHangul, kSingleDigit},
        false,
        false}},
      {{"deepseek-v3", "deepseek-r1"}, {"deepseek-v3", {kDigitsUpTo3, kCjkKana, kDeepseekV3Main}, false, false}},
      {{"falcon"}, {"falcon", {kFalconPunctuation, kGpt2, kThreeAsciiDigits}, false, false}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
       {"starcoder", {kSingleDigit, kGpt2}, false, false}},
      {{"bloom", "poro-chat", "gpt3-finnish"}, {"bloom", {kBloom}, false, false}},
      {{"viking"}, {"viking", {kBloom, kSingleDigit}, false, false}},
      {{"tekken"}, {"tekken", {kTekken}, true, true}},
      {{"gpt-4o", "llama4"}, {"gpt-4o", {kGpt4o}, false, false}},
      {{"seed-coder"}, {"seed-coder", {kSeedCoder}, false, false}},
  };
  return table;
}

}  // namespace

Result<PreTokenizerSpec> find_pre_tokenizer(std::string_view pre) {
  if (pre.empty()) pre = "default";
  for (const Family& family : families()) {
    for (std::string_view name : family.names) {
      if (name == pre) return family.spec;
    }
  }
  return unsupported("tokenizer.ggml.pre '{}' is not a pre-tokenizer strata knows; known: {}", pre,
                     known_pre_tokenizer_names());
}

std::string known_pre_tokenizer_names() {
  std::string out;
  for (const Family& family : families()) {
    for (std::string_view name : family.names) {
      if (!out.empty()) out += ", ";
      out += name;
    }
  }
  return out;
}

}  // namespace strata::tokenizer
