// Python str semantics over UTF-8 text: code-point indexing, whitespace, case, split, strip.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace strata::chat::jinja::text {

// Decodes the code point at `pos` and advances it. A byte that does not start a valid UTF-8
// sequence decodes as itself (one "character"), so arbitrary bytes still round-trip.
char32_t decode(std::string_view s, size_t& pos);
void append_utf8(std::string& out, char32_t cp);
bool is_ascii(std::string_view s);

// Number of characters (code points), as Python's len(str).
size_t length(std::string_view s);
// Byte offset of every character start, followed by s.size().
std::vector<size_t> char_offsets(std::string_view s);

// Python str.isspace() for one character (includes U+00A0, U+3000, U+2028, ...).
bool is_space(char32_t cp);
// Characters str.splitlines() breaks on.
bool is_line_break(char32_t cp);
// Letters and digits as Python's \w sees them (ASCII exact; other scripts approximated).
bool is_word(char32_t cp);
bool is_digit(char32_t cp);
bool is_alpha(char32_t cp);

char32_t to_upper(char32_t cp);
char32_t to_lower(char32_t cp);
bool is_cased(char32_t cp);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);   // str.capitalize()
std::string title(std::string_view s);        // str.title()
std::string swapcase(std::string_view s);
bool is_lower(std::string_view s);            // str.islower()
bool is_upper(std::string_view s);            // str.isupper()

// str.strip()/lstrip()/rstrip(): whitespace when `chars` is null, else any of its characters.
std::string_view strip(std::string_view s, const std::string* chars, bool left, bool right);

// str.split(sep, maxsplit) / rsplit; sep null splits on runs of whitespace. sep must not be
// empty (the caller reports Python's ValueError).
std::vector<std::string> split(std::string_view s, const std::string* sep, int64_t maxsplit);
std::vector<std::string> rsplit(std::string_view s, const std::string* sep, int64_t maxsplit);
std::vector<std::string> splitlines(std::string_view s, bool keepends);

// str.replace(old, new, count); count < 0 replaces all. An empty `from` inserts `to`
// between characters, as Python does.
std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count);
// Non-overlapping occurrences, as str.count().
size_t count(std::string_view s, std::string_view sub);

}  // namespace strata::chat::jinja::text
