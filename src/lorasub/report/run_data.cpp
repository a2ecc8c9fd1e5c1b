#include "lorasub/report/run_data.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lorasub/core/error.h"

namespace lorasub::report {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw FormatError("'" + path + "': " + what + " (not a results.json written by lorasub train?)");
}

double number(const json& j, const char* key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end()) bad(path, std::string("missing key '") + key + "'");
  if (!it->is_number()) bad(path, std::string("'") + key + "' is not a number");
  return it->get<double>();
}

double number_or(const json& j, const char* key, double fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

// An integer key; `fallback` when absent or not an integer (a double such as 1e300 does
// not fit int64_t).
int64_t integer_or(const json& j, const char* key, int64_t fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

std::string string_or(const json& j, const char* key, const std::string& fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::vector<std::vector<double>> parse_matrix(const json& j, const std::string& path) {
  auto it = j.find("accuracy_matrix");
  if (it == j.end() || !it->is_array()) bad(path, "missing array 'accuracy_matrix'");
  std::vector<std::vector<double>> m;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& row = (*it)[i];
    if (!row.is_array() || row.size() < i + 1)
      bad(path, "accuracy_matrix row " + std::to_string(i) + " needs " + std::to_string(i + 1) + " numbers");
    std::vector<double> r;
    for (size_t k = 0; k <= i; ++k) {
      if (!row[k].is_number())
        bad(path, "accuracy_matrix[" + std::to_string(i) + "][" + std::to_string(k) + "] is not a number");
      r.push_back(row[k].get<double>());
    }
    m.push_back(std::move(r));
  }
  return m;
}

TaskRecord parse_task(const json& t, size_t index, const std::string& path) {
  if (!t.is_object()) bad(path, "tasks[" + std::to_string(index) + "] is not an object");
  TaskRecord r;
  r.task = integer_or(t, "task", static_cast<int64_t>(index));
  r.overall = number(t, "A", path);
  r.classes = integer_or(t, "classes", 0);
  r.train_images = number_or(t, "train_images", -1);
  auto kept = t.find("drs_kept_dims");
  if (kept != t.end() && kept->is_array())
    for (const json& k : *kept)
      if (k.is_number_integer()) r.kept_dims.push_back(k.get<int64_t>());
  auto sec = t.find("seconds");
  if (sec != t.end() && sec->is_object()) {
    r.seconds.covariance = number_or(*sec, "covariance", 0);
    r.seconds.train = number_or(*sec, "train", 0);
    r.seconds.prototypes = number_or(*sec, "prototypes", 0);
    r.seconds.eval = number_or(*sec, "eval", 0);
    r.seconds.checkpoint = number_or(*sec, "checkpoint", 0);
    r.seconds.drift = number_or(*sec, "drift", 0);
  }
  return r;
}

// Entries that do not name two tasks of the run (0 <= task < after_task < tasks) are skipped.
std::vector<DriftPoint> parse_drift(const json& j, size_t tasks) {
  std::vector<DriftPoint> out;
  auto it = j.find("feature_drift");
  if (it == j.end() || !it->is_array()) return out;
  for (const json& d : *it) {
    if (!d.is_object()) continue;
    DriftPoint p;
    p.task = integer_or(d, "task", -1);
    p.after_task = integer_or(d, "after_task", -1);
    if (p.task < 0 || p.after_task <= p.task || p.after_task >= static_cast<int64_t>(tasks)) continue;
    p.cosine_distance = number_or(d, "mean_cosine_distance", 0);
    auto drop = d.find("stale_accuracy_drop");
    p.has_accuracy_drop = drop != d.end() && drop->is_number();
    if (p.has_accuracy_drop) p.accuracy_drop = drop->get<double>();
    out.push_back(p);
  }
  return out;
}

bool read_text(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

std::string unquote(std::string v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
  return v;
}

}  // namespace

RunData parse_results(const std::string& text, const std::string& path) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) bad(path, "not valid JSON");
  if (!j.is_object()) bad(path, "not a JSON object");
  RunData r;
  auto method = j.find("method");
  if (method == j.end() || !method->is_string()) bad(path, "missing string 'method'");
  r.method = method->get<std::string>();
  r.run = string_or(j, "run", "");
  r.dataset = string_or(j, "dataset", "");
  r.seed = integer_or(j, "seed", 0);
  r.ranks = integer_or(j, "ranks", 0);
  r.a_last = number(j, "A_last", path);
  r.a_avg = number(j, "A_avg", path);
  r.forgetting = number(j, "forgetting", path);
  r.bwt = number_or(j, "bwt", 0);
  r.wall_seconds = number_or(j, "wall_seconds", 0);
  r.train_images_per_second = number_or(j, "train_images_per_second", 0);
  r.matrix = parse_matrix(j, path);
  auto tasks = j.find("tasks");
  if (tasks == j.end() || !tasks->is_array()) bad(path, "missing array 'tasks'");
  for (size_t i = 0; i < tasks->size(); ++i) r.tasks.push_back(parse_task((*tasks)[i], i, path));
  if (r.tasks.size() != r.matrix.size())
    bad(path,
        std::to_string(r.tasks.size()) + " tasks but " + std::to_string(r.matrix.size()) + " accuracy_matrix rows");
  r.drift = parse_drift(j, r.tasks.size());
  return r;
}

std::map<std::string, std::string> flatten_config(const std::string& yaml) {
  std::map<std::string, std::string> out;
  std::istringstream in(yaml);
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (line[0] != ' ') {
      section = line.substr(0, colon);
      continue;
    }
    const size_t start = line.find_first_not_of(' ');
    if (section.empty() || start >= colon) continue;
    std::string value = colon + 1 < line.size() ? line.substr(colon + 1) : "";
    const size_t v0 = value.find_first_not_of(' ');
    value = v0 == std::string::npos ? "" : unquote(value.substr(v0));
    out[section + "." + line.substr(start, colon - start)] = value;
  }
  return out;
}

RunData load_run(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) throw ConfigError("run directory '" + dir + "': " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) throw ConfigError("'" + dir + "' is not a run directory (not a directory)");
  const std::string results = dir + "/results.json";
  if (::access(results.c_str(), R_OK) != 0)
    throw ConfigError("'" + results + "': " + std::strerror(errno) +
                      " (give the directory of a finished lorasub train run)");
  std::string text;
  if (!read_text(results, &text)) throw ConfigError("'" + results + "' cannot be read");
  RunData r = parse_results(text, results);
  r.dir = dir;
  if (read_text(dir + "/config.yaml", &r.config_yaml)) r.config = flatten_config(r.config_yaml);
  return r;
}

}  // namespace lorasub::report
