// Internal: the one schema table behind config.cpp. Every Config field is one Key;
// parsing, validation, `--set`, dump_config, describe_config and operator== all
// iterate this table, so adding a field to config.h means adding one entry here.
#pragma once
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include "lorasub/core/config.h"

namespace lorasub::config_detail {

enum class Kind { kString, kInt, kUint, kDouble, kBool };

// A field value; the alternative always matches the key's Kind.
using Value = std::variant<std::string, int64_t, uint64_t, double, bool>;

struct Key {
  std::string section;  // "train"
  std::string name;     // "batch_size"
  std::string full;     // "train.batch_size"
  Kind kind = Kind::kString;
  std::function<Value(const Config&)> get;
  std::function<void(Config&, const Value&)> set;
  // Numeric range (int, uint, double): lo <= v <= hi, or lo < v when lo_open.
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;
  std::vector<std::string> choices;  // string enums; empty = any string
  std::string desc;

  Key&& at_least(double v) && {
    lo = v;
    return std::move(*this);
  }
  Key&& above(double v) && {
    lo = v;
    lo_open = true;
    return std::move(*this);
  }
  Key&& at_most(double v) && {
    hi = v;
    return std::move(*this);
  }
  Key&& range(double a, double b) && {
    lo = a;
    hi = b;
    return std::move(*this);
  }
  Key&& one_of(std::vector<std::string> c) && {
    choices = std::move(c);
    return std::move(*this);
  }
};

// All keys, grouped by section, in dump order.
const std::vector<Key>& schema();
// Section names in schema order.
const std::vector<std::string>& sections();
// The key named "section.name", or nullptr.
const Key* find_key(const std::string& full);

// "an integer", "a number", ... for type errors.
const char* kind_noun(Kind kind);
// "int", "double", ... for describe_config.
const char* kind_name(Kind kind);
// The value as a YAML scalar that parses back to the same value.
std::string format_value(const Value& v);
// "" when v satisfies k's range/choices, else "out of range (must be >= 1)"-style text.
std::string check_value(const Key& k, const Value& v);
// Human form of the constraint ("" when none): ">= 1", "in (0, 1]", "one of: a, b".
std::string constraint_text(const Key& k);

}  // namespace lorasub::config_detail
