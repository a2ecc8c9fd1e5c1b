// Config loading, `--set` overrides, validation, dump and hash, all driven by the
// schema table in config_schema.cpp.
#include "lorasub/core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <sstream>
#include <system_error>

#include "lorasub/core/config_schema.h"
#include "lorasub/core/error.h"
#include "lorasub/core/yaml_text.h"

namespace lorasub {
namespace {

using config_detail::Key;
using config_detail::Kind;
using config_detail::schema;
using config_detail::Value;

[[noreturn]] void fail(const std::string& msg) { throw ConfigError(msg); }

// "origin:line:col" (1-based) when the mark is known, else "origin".
std::string where(const std::string& origin, const YAML::Mark& mark) {
  if (mark.is_null()) return origin;
  return origin + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

size_t levenshtein(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Tracks the nearest candidate within max(2, len/3) edits of what was typed.
struct Nearest {
  std::string best;
  size_t dist = static_cast<size_t>(-1);
  void offer(const std::string& typed, const std::string& cand, const std::string& suggestion) {
    const size_t d = levenshtein(typed, cand);
    if (d <= std::max<size_t>(2, typed.size() / 3) && d < dist) {
      best = suggestion;
      dist = d;
    }
  }
};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out;
}

bool is_section(const std::string& name) {
  const auto& all = config_detail::sections();
  return std::find(all.begin(), all.end(), name) != all.end();
}

[[noreturn]] void unknown_section(const std::string& at, const std::string& name) {
  Nearest near;
  for (const auto& s : config_detail::sections()) near.offer(name, s, s);
  const std::string hint =
      near.best.empty() ? "valid sections: " + join(config_detail::sections()) : "did you mean '" + near.best + "'?";
  fail(at + ": unknown section '" + name + "' (" + hint + ")");
}

[[noreturn]] void unknown_key(const std::string& at, const std::string& section, const std::string& name) {
  const std::string typed = section + "." + name;
  Nearest near;
  std::vector<std::string> in_section;
  // Ties go to the earliest offer: same section, then dotted names, then other sections.
  for (const auto& k : schema()) {
    if (k.section != section) continue;
    in_section.push_back(k.name);
    near.offer(name, k.name, k.full);
  }
  for (const auto& k : schema()) near.offer(typed, k.full, k.full);
  for (const auto& k : schema()) near.offer(name, k.name, k.full);  // key in the wrong section
  const std::string hint =
      near.best.empty() ? "valid keys in '" + section + "': " + join(in_section) : "did you mean '" + near.best + "'?";
  fail(at + ": unknown key '" + typed + "' (" + hint + ")");
}

// Decimal integer with an optional sign; "" on success, else the error tail.
template <class Int>
std::string parse_integer(std::string text, Value& out) {
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  Int v{};
  const char* end = text.data() + text.size();
  const auto res = std::from_chars(text.data(), end, v);
  if (text.empty() || res.ptr != end) return "bad";
  if (res.ec == std::errc::result_out_of_range) return "range";
  out = Value(std::in_place_type<Int>, v);
  return "";
}

// Decimal or scientific notation ("5e-4", "2", ".5"); no inf/nan/hex.
std::string parse_double(std::string text, Value& out) {
  if (!text.empty() && text[0] == '+') text.erase(0, 1);
  const size_t body = (!text.empty() && text[0] == '-') ? 1 : 0;
  if (text.size() <= body || !(std::isdigit(static_cast<unsigned char>(text[body])) || text[body] == '.')) {
    return "bad";
  }
  if (text.find_first_not_of("0123456789.eE+-") != std::string::npos) return "bad";
  double v = 0;
  const char* end = text.data() + text.size();
  const auto res = std::from_chars(text.data(), end, v);
  if (res.ptr != end) return "bad";
  if (res.ec == std::errc::result_out_of_range) return "range";
  out = v;
  return "";
}

Value parse_text(const Key& k, const std::string& text, const std::string& at) {
  Value v;
  std::string err;
  switch (k.kind) {
    case Kind::kString:
      return text;
    case Kind::kInt:
      err = parse_integer<int64_t>(text, v);
      break;
    case Kind::kUint:
      err = parse_integer<uint64_t>(text, v);
      break;
    case Kind::kDouble:
      err = parse_double(text, v);
      break;
    case Kind::kBool:
      if (text == "true" || text == "false") return text == "true";
      err = "bad";
      break;
  }
  if (err == "range") {
    fail(at + ": key '" + k.full + "' = " + text + " is out of range (" +
         (k.kind == Kind::kDouble ? "not a finite double" : "does not fit in 64 bits") + ")");
  }
  if (!err.empty()) {
    fail(at + ": key '" + k.full + "' must be " + config_detail::kind_noun(k.kind) + ", got '" + text + "'");
  }
  return v;
}

// Parses `text` as k's type, checks range/choices and stores it.
void assign(Config& cfg, const Key& k, const std::string& text, const std::string& at) {
  const Value v = parse_text(k, text, at);
  const std::string bad = config_detail::check_value(k, v);
  if (!bad.empty()) fail(at + ": key '" + k.full + "' " + bad);
  k.set(cfg, v);
}

const char* node_kind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

void apply_value(Config& cfg, const Key& k, const YAML::Node& node, const std::string& origin) {
  const std::string at = where(origin, node.Mark());
  if (node.IsNull()) {
    fail(at + ": key '" + k.full + "' has no value" +
         (k.kind == Kind::kString ? " (write \"\" for an empty string)" : ""));
  }
  if (!node.IsScalar()) {
    fail(at + ": key '" + k.full + "' must be " + config_detail::kind_noun(k.kind) + ", got " + node_kind(node));
  }
  assign(cfg, k, node.Scalar(), at);
}

// The scalar text of a map key, or a ConfigError.
std::string key_text(const YAML::Node& key, const std::string& origin) {
  if (!key.IsScalar()) {
    fail(where(origin, key.Mark()) + ": expected a plain name as map key, got " + node_kind(key));
  }
  return key.Scalar();
}

void apply_section(Config& cfg, const std::string& section, const YAML::Node& node, const std::string& origin) {
  if (node.IsNull()) return;  // "train:" with every key commented out
  if (!node.IsMap()) {
    fail(where(origin, node.Mark()) + ": section '" + section + "' must be a map of keys, got " + node_kind(node));
  }
  std::set<std::string> seen;
  for (const auto& kv : node) {
    const std::string name = key_text(kv.first, origin);
    const std::string at = where(origin, kv.first.Mark());
    const Key* k = config_detail::find_key(section + "." + name);
    if (k == nullptr) unknown_key(at, section, name);
    if (!seen.insert(name).second) fail(at + ": duplicate key '" + k->full + "'");
    apply_value(cfg, *k, kv.second, origin);
  }
}

void apply_document(Config& cfg, const YAML::Node& root, const std::string& origin) {
  if (root.IsNull()) return;  // empty file or only comments: all defaults
  if (!root.IsMap()) {
    fail(where(origin, root.Mark()) + ": the top level must be a map of sections (" + join(config_detail::sections()) +
         "), got " + node_kind(root));
  }
  std::set<std::string> seen;
  for (const auto& kv : root) {
    const std::string section = key_text(kv.first, origin);
    const std::string at = where(origin, kv.first.Mark());
    if (!is_section(section)) unknown_section(at, section);
    if (!seen.insert(section).second) fail(at + ": duplicate section '" + section + "'");
    apply_section(cfg, section, kv.second, origin);
  }
}

YAML::Node load_yaml(const std::string& text, const std::string& origin) {
  if (const size_t line = second_document_line(text))
    fail(origin + ":" + std::to_string(line) +
         ": a second YAML document ('---'); a config is one document: merge "
         "them or remove the separator");
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(where(origin, e.mark) + ": YAML syntax error: " + e.msg);
  }
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// The value text of an override: a YAML scalar, or the raw text when it is not one.
std::string override_text(const Key& k, const std::string& raw) {
  if (trim(raw).empty()) return "";
  YAML::Node node;
  try {
    node = YAML::Load(raw);
  } catch (const YAML::Exception&) {
    return raw;
  }
  if (node.IsNull()) fail("--set: key '" + k.full + "' has no value ('" + raw + "' reads as YAML null)");
  return node.IsScalar() ? node.Scalar() : raw;
}

void apply_override(Config& cfg, const std::string& item) {
  const auto eq = item.find('=');
  const std::string key = trim(item.substr(0, eq == std::string::npos ? 0 : eq));
  const auto dot = key.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot == 0 || dot + 1 == key.size()) {
    fail("--set '" + item + "': expected section.key=value");
  }
  const std::string section = key.substr(0, dot);
  if (!is_section(section)) unknown_section("--set", section);
  const Key* k = config_detail::find_key(key);
  if (k == nullptr) unknown_key("--set", section, key.substr(dot + 1));
  assign(cfg, *k, override_text(*k, item.substr(eq + 1)), "--set");
}

std::string read_file(const std::string& path) {
  errno = 0;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail("cannot read config file '" + path + "': " + std::strerror(errno));
  std::string text;
  char buf[1 << 14];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, n);
  if (std::ferror(f.get())) {
    fail("cannot read config file '" + path + "': " + std::strerror(errno ? errno : EIO));
  }
  return text;
}

std::string pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

}  // namespace

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  const std::string text = read_file(path);
  // A file that sets nothing is more likely a mistake (wrong file, truncated copy) than
  // a wish for every default: say so.
  if (load_yaml(text, path).IsNull())
    fail("config file '" + path + "' sets nothing (empty, or only comments); start from one of configs/*.yaml");
  return parse_config(text, path, overrides);
}

Config parse_config(const std::string& yaml_text, const std::string& origin,
                    const std::vector<std::string>& overrides) {
  Config cfg;
  apply_document(cfg, load_yaml(yaml_text, origin), origin);
  for (const auto& item : overrides) apply_override(cfg, item);
  validate_config(cfg, origin);
  return cfg;
}

std::string dump_config(const Config& cfg) {
  std::string out;
  std::string section;
  for (const auto& k : schema()) {
    if (k.section != section) {
      section = k.section;
      out += section + ":\n";
    }
    out += "  " + k.name + ": " + config_detail::format_value(k.get(cfg)) + "\n";
  }
  return out;
}

std::string describe_config() {
  const Config defaults;
  size_t wk = 0, wt = 0, wd = 0;
  for (const auto& k : schema()) {
    wk = std::max(wk, k.full.size());
    wt = std::max(wt, std::strlen(config_detail::kind_name(k.kind)));
    wd = std::max(wd, config_detail::format_value(k.get(defaults)).size());
  }
  std::string out;
  for (const auto& k : schema()) {
    const std::string c = config_detail::constraint_text(k);
    out += "  " + pad(k.full, wk) + "  " + pad(config_detail::kind_name(k.kind), wt) + "  " +
           pad(config_detail::format_value(k.get(defaults)), wd) + "  " + k.desc + (c.empty() ? "" : " [" + c + "]") +
           "\n";
  }
  return out;
}

std::string config_hash(const Config& cfg) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : dump_config(cfg)) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

bool operator==(const Config& a, const Config& b) { return config_differences(a, b).empty(); }

std::vector<std::string> config_differences(const Config& a, const Config& b) {
  std::vector<std::string> out;
  for (const auto& k : schema()) {
    const Value va = k.get(a), vb = k.get(b);
    if (va != vb)
      out.push_back(k.full + ": " + config_detail::format_value(va) + " -> " + config_detail::format_value(vb));
  }
  return out;
}

}  // namespace lorasub
