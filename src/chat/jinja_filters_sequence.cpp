// Builtin filters on sequences and mappings (Jinja 3.1 semantics).
#include <algorithm>
#include <numeric>
#include <unordered_set>

#include "chat/jinja_args.h"
#include "chat/jinja_builtins.h"
#include "chat/jinja_error.h"
#include "chat/jinja_filters.h"
#include "chat/jinja_interpreter.h"
#include "chat/jinja_text.h"

namespace strata::chat::jinja::filters {

namespace {

Value ignore_case(Interpreter& in, const Value& v) {
  if (v.is_string()) return in.make_string(text::lower(v.as_string()));
  return v;
}

// sorted(items, key=keys, reverse=reverse): a stable sort that raises Python's TypeError for
// keys that do not order (never undefined behaviour in the sort itself).
std::vector<Value> sorted(Interpreter& in, std::vector<Value> items, const std::vector<Value>& keys, bool reverse) {
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), size_t{0});
  in.charge(items.size() * 4);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return reverse ? compare(keys[b], keys[a], "<") < 0 : compare(keys[a], keys[b], "<") < 0;
  });
  std::vector<Value> out;
  out.reserve(items.size());
  for (size_t i : order) out.push_back(std::move(items[i]));
  return out;
}

Value call_test_by_name(Interpreter& in, const Value& name, const Value& item, const std::vector<Value>& extra,
                        const std::vector<std::pair<std::string, Value>>& keyword) {
  const std::string test_name = to_str(name);
  TestFn fn = find_test(test_name);
  if (fn == nullptr) fail(ErrorType::kRuntime, "no test named '{}'", test_name);
  CallArgs test_args;
  test_args.positional = extra;
  test_args.keyword = keyword;
  return Value::boolean(fn(in, item, test_args));
}

// select/reject/selectattr/rejectattr.
Value select_or_reject(Interpreter& in, const Value& value, CallArgs& args, bool keep_matching, bool by_attribute,
                       std::string_view function) {
  if (!truthy(value)) return in.make_list({});
  size_t next = 0;
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) fail(ErrorType::kRuntime, "{}(): missing parameter for attribute name", function);
    attribute = args.positional[next++];
  }
  const bool has_test = args.positional.size() > next;
  const Value test_name = has_test ? args.positional[next] : Value();
  const std::vector<Value> extra(args.positional.begin() + (has_test ? next + 1 : next), args.positional.end());
  std::vector<Value> kept;
  for (const Value& item : in.iterate(value)) {
    in.charge(1);
    const Value subject = by_attribute ? lookup_path(in, item, attribute) : item;
    const bool matched = has_test ? truthy(call_test_by_name(in, test_name, subject, extra, args.keyword))
                                  : truthy(subject);
    if (matched == keep_matching) kept.push_back(item);
  }
  return in.make_list(std::move(kept));
}

// min/max.
Value extreme(Interpreter& in, const Value& value, CallArgs& args, bool want_max) {
  BoundArgs a(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  const bool case_sensitive = a.get_bool(0, false);
  std::vector<Value> items = in.iterate(value);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  Value best_key;
  for (size_t i = 0; i < items.size(); ++i) {
    Value key = a.has(1) ? lookup_path(in, items[i], a.get(1)) : items[i];
    if (!case_sensitive) key = ignore_case(in, key);
    if (i == 0) {
      best_key = key;
      continue;
    }
    const int c = compare(key, best_key, want_max ? ">" : "<");
    if (want_max ? c > 0 : c < 0) {
      best = i;
      best_key = key;
    }
  }
  return items[best];
}

}  // namespace

Value lookup_path(Interpreter& in, const Value& item, const Value& path) {
  if (!path.is_string()) return in.get_item(item, path);
  Value current = item;
  const std::string& p = path.as_string();
  const std::string dot = ".";
  for (const std::string& part : text::split(p, &dot, -1)) {
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (numeric && part.size() < 19) {
      current = in.get_item(current, Value::integer(std::stoll(part)));
    } else {
      current = in.get_item(current, Value::string(part));
    }
  }
  return current;
}

Value attr(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("attr", args, {"name"});
  const std::string name = to_str(a.get(0));
  if (value.is_undefined()) fail_undefined(value);
  if (value.is_namespace() || value.is_loop()) return in.get_attr(value, name);
  if (has_method(value, name)) return bound_method(value, name);
  return Value::undefined(fmt::format("'{}' has no attribute '{}'", object_type_repr(value), name));
}

Value batch(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("batch", args, {"linecount", "fill_with"});
  const int64_t linecount = a.get_int(0, 0);
  if (linecount <= 0) fail(ErrorType::kValue, "batch(): linecount must be positive, got {}", linecount);
  std::vector<Value> rows;
  std::vector<Value> row;
  for (Value& item : in.iterate(value)) {
    if (static_cast<int64_t>(row.size()) == linecount) {
      rows.push_back(in.make_list(std::move(row)));
      row.clear();
    }
    row.push_back(std::move(item));
  }
  if (!row.empty()) {
    if (a.has(1) && !a.get(1).is_none()) {
      in.charge(static_cast<uint64_t>(linecount));
      while (static_cast<int64_t>(row.size()) < linecount) row.push_back(a.get(1));
    }
    rows.push_back(in.make_list(std::move(row)));
  }
  return in.make_list(std::move(rows));
}

Value dictsort(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("dictsort", args, {"case_sensitive", "by", "reverse"});
  const bool case_sensitive = a.get_bool(0, false);
  const std::string by = a.get_string(1, "key");
  const bool reverse = a.get_bool(2, false);
  if (by != "key" && by != "value") fail(ErrorType::kRuntime, "dictsort(): you can only sort by either \"key\" or \"value\"");
  if (value.is_undefined()) fail_undefined(value);
  if (!value.is_dict()) fail(ErrorType::kType, "dictsort(): '{}' object has no attribute 'items'", type_name(value));
  std::vector<Value> pairs;
  std::vector<Value> keys;
  for (const auto& [k, v] : value.as_dict().entries()) {
    pairs.push_back(in.make_tuple({k, v}));
    const Value& key = by == "key" ? k : v;
    keys.push_back(case_sensitive ? key : ignore_case(in, key));
  }
  return in.make_list(sorted(in, std::move(pairs), keys, reverse));
}

Value first(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("first", args, {});
  if (value.is_sequence()) {
    const auto& items = value.as_list().items;
    if (!items.empty()) return items.front();
  } else {
    std::vector<Value> items = in.iterate(value);
    if (!items.empty()) return items.front();
  }
  return Value::undefined("No first item, sequence was empty.");
}

Value last(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("last", args, {});
  if (value.is_sequence()) {
    const auto& items = value.as_list().items;
    if (!items.empty()) return items.back();
  } else {
    std::vector<Value> items = in.iterate(value);
    if (!items.empty()) return items.back();
  }
  return Value::undefined("No last item, sequence was empty.");
}

Value items(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("items", args, {});
  if (value.is_undefined()) return in.make_list({});
  if (!value.is_dict()) fail(ErrorType::kType, "Can only get item pairs from a mapping.");
  std::vector<Value> pairs;
  for (const auto& [k, v] : value.as_dict().entries()) pairs.push_back(in.make_tuple({k, v}));
  return in.make_list(std::move(pairs));
}

Value join(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("join", args, {"d", "attribute"});
  const std::string separator = a.has(0) ? to_str(a.get(0)) : std::string();
  std::string out;
  bool first_item = true;
  for (const Value& item : in.iterate(value)) {
    if (!first_item) out += separator;
    first_item = false;
    const Value shown = a.has(1) && !a.get(1).is_none() ? lookup_path(in, item, a.get(1)) : item;
    append_str(out, shown);
    if (out.size() > in.limits().max_output_bytes) in.make_string(std::move(out));  // reports the limit
  }
  return in.make_string(std::move(out));
}

Value length(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("length", args, {});
  switch (value.kind()) {
    case Kind::kUndefined: return Value::integer(0);
    case Kind::kString: return Value::integer(static_cast<int64_t>(text::length(value.as_string())));
    case Kind::kList:
    case Kind::kTuple: return Value::integer(static_cast<int64_t>(value.as_list().items.size()));
    case Kind::kDict: return Value::integer(static_cast<int64_t>(value.as_dict().size()));
    default: fail(ErrorType::kType, "object of type '{}' has no len()", type_name(value));
  }
}

Value list(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("list", args, {});
  return in.make_list(in.iterate(value));
}

Value map(Interpreter& in, const Value& value, CallArgs& args) {
  std::vector<Value> out;
  if (!truthy(value)) return in.make_list({});
  if (args.positional.empty()) {
    const Value* attribute = nullptr;
    const Value* fallback = nullptr;
    for (const auto& [k, v] : args.keyword) {
      if (k == "attribute") {
        attribute = &v;
      } else if (k == "default") {
        fallback = &v;
      } else {
        fail(ErrorType::kRuntime, "map(): unexpected keyword argument '{}'", k);
      }
    }
    if (attribute == nullptr) fail(ErrorType::kRuntime, "map requires a filter argument");
    for (const Value& item : in.iterate(value)) {
      Value v = lookup_path(in, item, *attribute);
      if (v.is_undefined() && fallback != nullptr && !fallback->is_none()) v = *fallback;
      out.push_back(std::move(v));
    }
    return in.make_list(std::move(out));
  }
  const std::string name = to_str(args.positional[0]);
  FilterFn fn = find_filter(name);
  if (fn == nullptr) fail(ErrorType::kRuntime, "no filter named '{}'", name);
  for (const Value& item : in.iterate(value)) {
    CallArgs filter_args;
    filter_args.positional.assign(args.positional.begin() + 1, args.positional.end());
    filter_args.keyword = args.keyword;
    out.push_back(fn(in, item, filter_args));
  }
  return in.make_list(std::move(out));
}

Value max(Interpreter& in, const Value& value, CallArgs& args) { return extreme(in, value, args, true); }
Value min(Interpreter& in, const Value& value, CallArgs& args) { return extreme(in, value, args, false); }

Value select(Interpreter& in, const Value& value, CallArgs& args) {
  return select_or_reject(in, value, args, true, false, "select");
}
Value reject(Interpreter& in, const Value& value, CallArgs& args) {
  return select_or_reject(in, value, args, false, false, "reject");
}
Value selectattr(Interpreter& in, const Value& value, CallArgs& args) {
  return select_or_reject(in, value, args, true, true, "selectattr");
}
Value rejectattr(Interpreter& in, const Value& value, CallArgs& args) {
  return select_or_reject(in, value, args, false, true, "rejectattr");
}

Value reverse(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("reverse", args, {});
  if (value.is_string()) {
    const std::string& s = value.as_string();
    std::vector<size_t> offsets = text::char_offsets(s);
    std::string out;
    out.reserve(s.size());
    for (size_t i = offsets.size() - 1; i > 0; --i) out.append(s, offsets[i - 1], offsets[i] - offsets[i - 1]);
    return in.make_string(std::move(out));
  }
  std::vector<Value> items = in.iterate(value);
  std::reverse(items.begin(), items.end());
  return in.make_list(std::move(items));
}

Value sort(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("sort", args, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = a.get_bool(0, false);
  const bool case_sensitive = a.get_bool(1, false);
  std::vector<Value> items = in.iterate(value);
  std::vector<Value> keys;
  keys.reserve(items.size());
  std::vector<std::string> attributes;
  if (a.has(2) && !a.get(2).is_none()) {
    if (a.get(2).is_string()) {
      const std::string comma = ",";
      attributes = text::split(a.get(2).as_string(), &comma, -1);
    }
  }
  for (const Value& item : items) {
    if (attributes.empty() && a.has(2) && !a.get(2).is_none()) {
      Value k = lookup_path(in, item, a.get(2));
      keys.push_back(case_sensitive ? k : ignore_case(in, k));
    } else if (attributes.size() > 1) {
      std::vector<Value> parts;
      for (const std::string& attribute : attributes) {
        Value k = lookup_path(in, item, Value::string(attribute));
        parts.push_back(case_sensitive ? k : ignore_case(in, k));
      }
      keys.push_back(in.make_list(std::move(parts)));
    } else {
      Value k = attributes.empty() ? item : lookup_path(in, item, Value::string(attributes[0]));
      keys.push_back(case_sensitive ? k : ignore_case(in, k));
    }
  }
  return in.make_list(sorted(in, std::move(items), keys, reverse));
}

Value sum(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("sum", args, {"attribute", "start"});
  Value total = a.get_or(1, Value::integer(0));
  if (total.is_string()) fail(ErrorType::kType, "sum() can't sum strings [use ''.join(seq) instead]");
  for (const Value& item : in.iterate(value)) {
    const Value term = a.has(0) && !a.get(0).is_none() ? lookup_path(in, item, a.get(0)) : item;
    total = binary_op(in, BinaryOp::kAdd, total, term);
  }
  return total;
}

Value unique(Interpreter& in, const Value& value, CallArgs& args) {
  BoundArgs a("unique", args, {"case_sensitive", "attribute"});
  const bool case_sensitive = a.get_bool(0, false);
  std::vector<Value> kept;
  std::unordered_set<std::string> seen_strings;
  std::vector<Value> seen_other;
  for (const Value& item : in.iterate(value)) {
    Value key = a.has(1) && !a.get(1).is_none() ? lookup_path(in, item, a.get(1)) : item;
    if (!case_sensitive) key = ignore_case(in, key);
    if (key.is_string()) {
      if (seen_strings.insert(key.as_string()).second) kept.push_back(item);
      continue;
    }
    if (key.is_list() || key.is_dict() || key.is_namespace()) {
      fail(ErrorType::kType, "unhashable type: '{}'", type_name(key));
    }
    in.charge(seen_other.size());
    bool found = false;
    for (const Value& s : seen_other) {
      if (equal(s, key)) {
        found = true;
        break;
      }
    }
    if (!found) {
      seen_other.push_back(key);
      kept.push_back(item);
    }
  }
  return in.make_list(std::move(kept));
}

}  // namespace strata::chat::jinja::filters
