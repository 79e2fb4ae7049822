// The builtin filters (Jinja 3.1 semantics, tojson as Hugging Face defines it), declared for
// the name table in jinja_filters.cpp.
#pragma once

#include <string_view>
#include <vector>

#include "chat/jinja_value.h"

namespace strata::chat::jinja::filters {

#define STRATA_JINJA_FILTER(name) Value name(Interpreter& in, const Value& value, CallArgs& args)

// Text (jinja_filters_text.cpp).
STRATA_JINJA_FILTER(capitalize);
STRATA_JINJA_FILTER(center);
STRATA_JINJA_FILTER(escape);
STRATA_JINJA_FILTER(format);
STRATA_JINJA_FILTER(indent);
STRATA_JINJA_FILTER(lower);
STRATA_JINJA_FILTER(replace);
STRATA_JINJA_FILTER(safe);
STRATA_JINJA_FILTER(string);
STRATA_JINJA_FILTER(title);
STRATA_JINJA_FILTER(tojson);
STRATA_JINJA_FILTER(trim);
STRATA_JINJA_FILTER(truncate);
STRATA_JINJA_FILTER(upper);
STRATA_JINJA_FILTER(wordcount);
STRATA_JINJA_FILTER(pprint);
STRATA_JINJA_FILTER(to_int);
STRATA_JINJA_FILTER(to_float);
STRATA_JINJA_FILTER(abs);
STRATA_JINJA_FILTER(round);
STRATA_JINJA_FILTER(default_value);

// Sequences and mappings (jinja_filters_sequence.cpp).
STRATA_JINJA_FILTER(attr);
STRATA_JINJA_FILTER(batch);
STRATA_JINJA_FILTER(dictsort);
STRATA_JINJA_FILTER(first);
STRATA_JINJA_FILTER(items);
STRATA_JINJA_FILTER(join);
STRATA_JINJA_FILTER(last);
STRATA_JINJA_FILTER(length);
STRATA_JINJA_FILTER(list);
STRATA_JINJA_FILTER(map);
STRATA_JINJA_FILTER(max);
STRATA_JINJA_FILTER(min);
STRATA_JINJA_FILTER(reject);
STRATA_JINJA_FILTER(rejectattr);
STRATA_JINJA_FILTER(reverse);
STRATA_JINJA_FILTER(select);
STRATA_JINJA_FILTER(selectattr);
STRATA_JINJA_FILTER(sort);
STRATA_JINJA_FILTER(sum);
STRATA_JINJA_FILTER(unique);

#undef STRATA_JINJA_FILTER

// Jinja's make_attrgetter: "a.b.0" looks up a, then b, then item 0.
Value lookup_path(Interpreter& in, const Value& item, const Value& path);

}  // namespace strata::chat::jinja::filters
