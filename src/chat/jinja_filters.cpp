// Name table of the builtin filters.
#include "chat/jinja_filters.h"

#include <algorithm>
#include <array>
#include <utility>

#include "chat/jinja_builtins.h"

namespace strata::chat::jinja {

FilterFn find_filter(std::string_view name) {
  static constexpr std::pair<std::string_view, FilterFn> kFilters[] = {
      {"abs", filters::abs},
      {"attr", filters::attr},
      {"batch", filters::batch},
      {"capitalize", filters::capitalize},
      {"center", filters::center},
      {"count", filters::length},
      {"d", filters::default_value},
      {"default", filters::default_value},
      {"dictsort", filters::dictsort},
      {"e", filters::escape},
      {"escape", filters::escape},
      {"first", filters::first},
      {"float", filters::to_float},
      {"forceescape", filters::escape},
      {"format", filters::format},
      {"indent", filters::indent},
      {"int", filters::to_int},
      {"items", filters::items},
      {"join", filters::join},
      {"last", filters::last},
      {"length", filters::length},
      {"list", filters::list},
      {"lower", filters::lower},
      {"map", filters::map},
      {"max", filters::max},
      {"min", filters::min},
      {"pprint", filters::pprint},
      {"reject", filters::reject},
      {"rejectattr", filters::rejectattr},
      {"replace", filters::replace},
      {"reverse", filters::reverse},
      {"round", filters::round},
      {"safe", filters::safe},
      {"select", filters::select},
      {"selectattr", filters::selectattr},
      {"sort", filters::sort},
      {"string", filters::string},
      {"sum", filters::sum},
      {"title", filters::title},
      {"tojson", filters::tojson},
      {"trim", filters::trim},
      {"truncate", filters::truncate},
      {"unique", filters::unique},
      {"upper", filters::upper},
      {"wordcount", filters::wordcount},
  };
  for (const auto& [n, fn] : kFilters) {
    if (n == name) return fn;
  }
  return nullptr;
}

}  // namespace strata::chat::jinja
