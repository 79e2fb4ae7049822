// PreTokenizer: applies the regexes of a family in sequence, keeping matches and gaps.
#include "tokenizer/pre_tokenizer.h"

#include <utility>

namespace strata::tokenizer {

Result<PreTokenizer> PreTokenizer::create(const PreTokenizerSpec& spec) {
  PreTokenizer pre;
  pre.name_ = spec.name;
  for (std::string_view pattern : spec.patterns) {
    STRATA_ASSIGN_OR_RETURN(Regex regex, Regex::compile(pattern));
    pre.regexes_.push_back(std::move(regex));
  }
  return pre;
}

Status PreTokenizer::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  if (text.empty()) return {};
  std::vector<std::string_view> current{text};
  std::vector<std::string_view> next;
  std::vector<std::pair<size_t, size_t>> matches;
  for (const Regex& regex : regexes_) {
    next.clear();
    for (std::string_view piece : current) {
      matches.clear();
      STRATA_TRY(regex.find_all(piece, matches));
      size_t done = 0;
      for (const auto& [begin, end] : matches) {
        if (begin > done) next.push_back(piece.substr(done, begin - done));
        next.push_back(piece.substr(begin, end - begin));
        done = end;
      }
      if (done < piece.size()) next.push_back(piece.substr(done));
    }
    std::swap(current, next);
  }
  pieces.insert(pieces.end(), current.begin(), current.end());
  return {};
}

}  // namespace strata::tokenizer
