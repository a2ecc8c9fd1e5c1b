#include "lorasub/report/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <regex>
#include <set>

namespace lorasub::report {
namespace {

constexpr size_t kMaxLabelKeys = 3;
const char* const kAbsent = "(unset)";

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

std::string config_value(const RunData& r, const std::string& key) {
  auto it = r.config.find(key);
  return it == r.config.end() ? kAbsent : it->second;
}

// The label suffix of every run of one method: the keys whose values differ among them.
std::vector<std::string> differing_keys(const std::vector<RunData>& runs, const std::vector<size_t>& members) {
  std::set<std::string> keys;
  for (size_t i : members)
    for (const auto& kv : runs[i].config)
      if (!is_bookkeeping_key(kv.first)) keys.insert(kv.first);
  std::vector<std::string> out;
  for (const std::string& k : keys) {
    const std::string first = config_value(runs[members[0]], k);
    for (size_t i : members)
      if (config_value(runs[i], k) != first) {
        out.push_back(k);
        break;
      }
  }
  return out;
}

std::string label_for(const RunData& r, const std::vector<std::string>& keys) {
  if (r.config.empty()) {
    const std::string stem = name_stem(r.run);
    return stem.empty() ? r.method : r.method + " " + stem;
  }
  std::string label = r.method;
  for (size_t k = 0; k < keys.size() && k < kMaxLabelKeys; ++k) label += " " + keys[k] + "=" + config_value(r, keys[k]);
  if (keys.size() > kMaxLabelKeys) label += " +" + std::to_string(keys.size() - kMaxLabelKeys) + " keys";
  return label;
}

}  // namespace

double mean(const std::vector<double>& x) {
  if (x.empty()) return std::numeric_limits<double>::quiet_NaN();
  double s = 0;
  for (double v : x) s += v;
  return s / static_cast<double>(x.size());
}

double sample_std(const std::vector<double>& x) {
  if (x.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  const double m = mean(x);
  double ss = 0;
  for (double v : x) ss += (v - m) * (v - m);
  return std::sqrt(ss / static_cast<double>(x.size() - 1));
}

std::vector<double> per_task_forgetting(const std::vector<std::vector<double>>& r) {
  std::vector<double> f;
  const size_t t = r.size();
  for (size_t j = 0; j + 1 < t; ++j) {
    double best = r[j][j];
    for (size_t i = j; i + 1 < t; ++i) best = std::max(best, r[i][j]);
    f.push_back(best - r[t - 1][j]);
  }
  return f;
}

bool is_bookkeeping_key(const std::string& key) {
  for (const char* section : {"run.", "ckpt.", "metrics.", "dist.", "pretrain."})
    if (starts_with(key, section)) return true;
  static const std::set<std::string> keys = {"data.root",     "data.cache",    "data.workers", "data.prefetch",
                                             "model.weights", "train.threads", "train.device"};
  return keys.count(key) > 0;
}

std::string name_stem(const std::string& run_name) {
  static const std::regex seed_suffix("^(.*?[^0-9])(?:[-_.](?:seed|s)?)?[0-9]+$");
  std::smatch m;
  if (!std::regex_match(run_name, m, seed_suffix)) return run_name;
  std::string stem = m[1].str();
  while (stem.size() > 1 && (stem.back() == '-' || stem.back() == '_' || stem.back() == '.')) stem.pop_back();
  return stem;
}

std::vector<Group> group_runs(const std::vector<RunData>& runs) {
  std::map<std::string, std::vector<size_t>> by_method;
  for (size_t i = 0; i < runs.size(); ++i)
    if (!runs[i].config.empty()) by_method[runs[i].method].push_back(i);
  std::map<std::string, std::vector<std::string>> keys_of;
  for (const auto& m : by_method) keys_of[m.first] = differing_keys(runs, m.second);
  std::vector<Group> groups;
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::string label = label_for(runs[i], keys_of[runs[i].method]);
    auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& x) { return x.label == label; });
    if (g == groups.end())
      groups.push_back({label, {i}});
    else
      g->runs.push_back(i);
  }
  return groups;
}

}  // namespace lorasub::report
