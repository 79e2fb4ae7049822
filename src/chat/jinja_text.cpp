// Python str semantics over UTF-8 text (see jinja_text.h).
#include "chat/jinja_text.h"

#include <algorithm>

#include "core/utf8.h"

namespace strata::chat::jinja::text {

char32_t decode(std::string_view s, size_t& pos) {
  const size_t n = utf8_sequence_length(s, pos);
  if (n == 0) return static_cast<unsigned char>(s[pos++]);  // a stray byte stands for itself
  const char32_t cp = utf8_decode_at(s, pos, n);
  pos += n;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) { utf8_append(out, static_cast<uint32_t>(cp)); }

namespace {

// Appends the character at [pos, next) unchanged when it did not decode (a stray byte), or
// its mapped form otherwise.
template <typename Map>
std::string map_chars(std::string_view s, Map map) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t start = pos;
    const char32_t cp = decode(s, pos);
    if (pos - start == 1 && cp >= 0x80) {
      out.push_back(s[start]);
    } else {
      append_utf8(out, map(cp));
    }
  }
  return out;
}

bool in_set(char32_t cp, std::string_view chars) {
  size_t pos = 0;
  while (pos < chars.size()) {
    if (decode(chars, pos) == cp) return true;
  }
  return false;
}

// Bidirectional simple case pairs: ranges where upper and lower differ by a fixed offset, and
// alternating ranges (even code point upper, odd lower, or the reverse).
struct OffsetRange {
  char32_t upper_first, upper_last;
  int32_t delta;  // lower = upper + delta
};
constexpr OffsetRange kOffsetRanges[] = {
    {0x41, 0x5A, 32},       {0xC0, 0xD6, 32},       {0xD8, 0xDE, 32},
    {0x391, 0x3A1, 32},     {0x3A3, 0x3AB, 32},     {0x388, 0x38A, 37},
    {0x386, 0x386, 38},     {0x38C, 0x38C, 64},     {0x38E, 0x38F, 63},
    {0x410, 0x42F, 32},     {0x400, 0x40F, 80},     {0x531, 0x556, 48},
    {0x10A0, 0x10C5, 7264},
    {0x24B6, 0x24CF, 26},   {0xFF21, 0xFF3A, 32},
};
struct AlternatingRange {
  char32_t first, last;  // `first` is an upper-case letter, first+1 its lower case, ...
};
constexpr AlternatingRange kAlternating[] = {
    {0x100, 0x12F}, {0x132, 0x137}, {0x139, 0x148}, {0x14A, 0x177}, {0x179, 0x17E},
    {0x1A0, 0x1A5}, {0x1DE, 0x1EF}, {0x1F8, 0x21F}, {0x222, 0x233}, {0x3D8, 0x3EF},
    {0x460, 0x481}, {0x48A, 0x4BF}, {0x4C1, 0x4CE}, {0x4D0, 0x52F}, {0x1E00, 0x1E95},
    {0x1EA0, 0x1EFF},
};

bool alternating_is_upper(const AlternatingRange& r, char32_t cp) { return ((cp - r.first) & 1) == 0; }

}  // namespace

bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

size_t length(std::string_view s) {
  if (is_ascii(s)) return s.size();
  size_t n = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    decode(s, pos);
    ++n;
  }
  return n;
}

std::vector<size_t> char_offsets(std::string_view s) {
  std::vector<size_t> offsets;
  offsets.reserve(s.size() + 1);
  size_t pos = 0;
  while (pos < s.size()) {
    offsets.push_back(pos);
    decode(s, pos);
  }
  offsets.push_back(s.size());
  return offsets;
}

bool is_space(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_line_break(char32_t cp) {
  return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) ||
         cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

bool is_digit(char32_t cp) { return cp >= '0' && cp <= '9'; }

bool is_alpha(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
  if (is_space(cp)) return false;
  // Punctuation, symbols and marks outside ASCII that are common in chat text.
  if ((cp >= 0x80 && cp <= 0xBF && cp != 0xAA && cp != 0xB5 && cp != 0xBA) || cp == 0xD7 ||
      cp == 0xF7)
    return false;
  if (cp >= 0x2000 && cp <= 0x2BFF) return false;   // punctuation, arrows, math, symbols
  if (cp >= 0x3000 && cp <= 0x303F) return false;   // CJK punctuation
  if (cp >= 0xFE00 && cp <= 0xFE0F) return false;   // variation selectors
  if (cp >= 0xFF00 && cp <= 0xFF0F) return false;   // fullwidth punctuation
  if (cp >= 0x1F000 && cp <= 0x1FAFF) return false; // emoji
  if (cp >= 0x300 && cp <= 0x36F) return false;     // combining marks
  return true;
}

bool is_word(char32_t cp) { return cp == '_' || is_digit(cp) || is_alpha(cp); }

char32_t to_lower(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  for (const auto& r : kOffsetRanges) {
    if (cp >= r.upper_first && cp <= r.upper_last) return cp + r.delta;
  }
  for (const auto& r : kAlternating) {
    if (cp >= r.first && cp <= r.last) return alternating_is_upper(r, cp) ? cp + 1 : cp;
  }
  if (cp == 0x178) return 0xFF;
  if (cp == 0x130) return 'i';
  return cp;
}

char32_t to_upper(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
  for (const auto& r : kOffsetRanges) {
    const char32_t lower_first = r.upper_first + r.delta;
    const char32_t lower_last = r.upper_last + r.delta;
    if (cp >= lower_first && cp <= lower_last) return cp - r.delta;
  }
  for (const auto& r : kAlternating) {
    if (cp > r.first && cp <= r.last && !alternating_is_upper(r, cp)) return cp - 1;
  }
  if (cp == 0xFF) return 0x178;
  if (cp == 0xB5) return 0x39C;
  if (cp == 0x3C2) return 0x3A3;
  if (cp == 0x131) return 'I';
  if (cp == 0x17F) return 'S';
  return cp;
}

bool is_cased(char32_t cp) {
  return to_upper(cp) != cp || to_lower(cp) != cp || cp == 0xDF;
}

std::string upper(std::string_view s) { return map_chars(s, to_upper); }
std::string lower(std::string_view s) { return map_chars(s, to_lower); }
std::string swapcase(std::string_view s) {
  return map_chars(s, [](char32_t c) {
    const char32_t u = to_upper(c);
    return u != c ? u : to_lower(c);
  });
}

std::string capitalize(std::string_view s) {
  bool first = true;
  return map_chars(s, [&](char32_t c) {
    const char32_t r = first ? to_upper(c) : to_lower(c);
    first = false;
    return r;
  });
}

std::string title(std::string_view s) {
  bool previous_cased = false;
  return map_chars(s, [&](char32_t c) {
    const char32_t r = previous_cased ? to_lower(c) : to_upper(c);
    previous_cased = is_cased(c);
    return r;
  });
}

bool is_lower(std::string_view s) {
  bool any_cased = false;
  size_t pos = 0;
  while (pos < s.size()) {
    const char32_t c = decode(s, pos);
    if (to_lower(c) != c) return false;
    if (is_cased(c)) any_cased = true;
  }
  return any_cased;
}

bool is_upper(std::string_view s) {
  bool any_cased = false;
  size_t pos = 0;
  while (pos < s.size()) {
    const char32_t c = decode(s, pos);
    if (to_upper(c) != c && c != 0xDF) return false;
    if (c == 0xDF) return false;
    if (is_cased(c)) any_cased = true;
  }
  return any_cased;
}

std::string_view strip(std::string_view s, const std::string* chars, bool left, bool right) {
  auto matches = [&](char32_t c) { return chars == nullptr ? is_space(c) : in_set(c, *chars); };
  size_t begin = 0;
  if (left) {
    while (begin < s.size()) {
      size_t next = begin;
      if (!matches(decode(s, next))) break;
      begin = next;
    }
  }
  size_t end = s.size();
  if (right) {
    // Walk back one character at a time (a multi-byte character is judged whole).
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && end - start < 4 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
      size_t probe = start;
      const char32_t c = decode(s, probe);
      if (probe != end) {  // not one well-formed character: treat the last byte alone
        start = end - 1;
        probe = start;
        if (!matches(decode(s, probe))) break;
      } else if (!matches(c)) {
        break;
      }
      end = start;
    }
  }
  return s.substr(begin, end - begin);
}

std::vector<std::string> split(std::string_view s, const std::string* sep, int64_t maxsplit) {
  std::vector<std::string> parts;
  if (sep == nullptr) {
    size_t pos = 0;
    int64_t splits = 0;
    while (pos < s.size()) {
      // Skip whitespace.
      size_t probe = pos;
      while (probe < s.size()) {
        size_t next = probe;
        if (!is_space(decode(s, next))) break;
        probe = next;
      }
      pos = probe;
      if (pos >= s.size()) break;
      if (maxsplit >= 0 && splits >= maxsplit) {
        // The rest is the last part, trailing whitespace included (as CPython does).
        parts.emplace_back(s.substr(pos));
        return parts;
      }
      size_t end = pos;
      while (end < s.size()) {
        size_t next = end;
        if (is_space(decode(s, next))) break;
        end = next;
      }
      parts.emplace_back(s.substr(pos, end - pos));
      ++splits;
      pos = end;
    }
    return parts;
  }
  size_t pos = 0;
  int64_t splits = 0;
  while (maxsplit < 0 || splits < maxsplit) {
    const size_t hit = s.find(*sep, pos);
    if (hit == std::string_view::npos) break;
    parts.emplace_back(s.substr(pos, hit - pos));
    pos = hit + sep->size();
    ++splits;
  }
  parts.emplace_back(s.substr(pos));
  return parts;
}

std::vector<std::string> rsplit(std::string_view s, const std::string* sep, int64_t maxsplit) {
  if (maxsplit < 0) return split(s, sep, maxsplit);
  std::vector<std::string> parts;
  if (sep == nullptr) {
    std::vector<size_t> offsets = char_offsets(s);
    size_t i = offsets.size() - 1;  // index of the character end we are at
    int64_t splits = 0;
    auto space_before = [&](size_t idx) {
      size_t p = offsets[idx - 1];
      return is_space(decode(s, p));
    };
    while (i > 0) {
      while (i > 0 && space_before(i)) --i;
      if (i == 0) break;
      if (splits >= maxsplit) {
        parts.emplace_back(s.substr(0, offsets[i]));  // leading whitespace stays
        i = 0;
        break;
      }
      size_t end = i;
      while (i > 0 && !space_before(i)) --i;
      parts.emplace_back(s.substr(offsets[i], offsets[end] - offsets[i]));
      ++splits;
    }
    std::reverse(parts.begin(), parts.end());
    return parts;
  }
  size_t end = s.size();
  int64_t splits = 0;
  while (splits < maxsplit && end >= sep->size()) {
    const size_t hit = s.substr(0, end).rfind(*sep);
    if (hit == std::string_view::npos) break;
    parts.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
    end = hit;
    ++splits;
  }
  parts.emplace_back(s.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  std::vector<std::string> lines;
  size_t start = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t char_start = pos;
    const char32_t c = decode(s, pos);
    if (!is_line_break(c)) continue;
    size_t line_end = char_start;
    if (c == '\r' && pos < s.size() && s[pos] == '\n') ++pos;
    lines.emplace_back(s.substr(start, (keepends ? pos : line_end) - start));
    start = pos;
  }
  if (start < s.size()) lines.emplace_back(s.substr(start));
  return lines;
}

std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count_limit) {
  std::string out;
  if (from.empty()) {
    int64_t done = 0;
    size_t pos = 0;
    if (count_limit != 0) {
      out.append(to);
      ++done;
    }
    while (pos < s.size()) {
      const size_t start = pos;
      decode(s, pos);
      out.append(s.substr(start, pos - start));
      if (pos < s.size() && (count_limit < 0 || done < count_limit)) {
        out.append(to);
        ++done;
      }
    }
    if (!s.empty() && (count_limit < 0 || done < count_limit)) out.append(to);
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count_limit < 0 || done < count_limit) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
    ++done;
  }
  out.append(s.substr(pos));
  return out;
}

size_t count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return length(s) + 1;
  size_t n = 0;
  size_t pos = 0;
  while ((pos = s.find(sub, pos)) != std::string_view::npos) {
    ++n;
    pos += sub.size();
  }
  return n;
}

}  // namespace strata::chat::jinja::text
