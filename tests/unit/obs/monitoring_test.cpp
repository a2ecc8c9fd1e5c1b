// The monitoring files (Grafana dashboard, alert rules) may only use metric names the
// code registers (obs::metric_names(), which metrics_test checks against a real scrape).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "lorasub/obs/metrics.h"

namespace lorasub::obs {
namespace {

std::string read(const std::string& rel) {
  std::ifstream in(std::string(LORASUB_TEST_SOURCE_DIR) + "/" + rel);
  EXPECT_TRUE(in.good()) << rel;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every lorasub_* token, with a histogram's _bucket/_sum/_count suffix taken off.
std::set<std::string> names_used(const std::string& text) {
  const std::set<std::string> known(metric_names().begin(), metric_names().end());
  std::set<std::string> out;
  const std::regex re("lorasub_[a-z0-9_]+");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) {
    std::string n = it->str();
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s(suffix);
      if (!known.count(n) && n.size() > s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0 &&
          known.count(n.substr(0, n.size() - s.size())))
        n = n.substr(0, n.size() - s.size());
    }
    out.insert(n);
  }
  return out;
}

void expect_known(const std::set<std::string>& used, const std::string& file) {
  const std::set<std::string> known(metric_names().begin(), metric_names().end());
  for (const auto& n : used)
    EXPECT_TRUE(known.count(n)) << file << " uses '" << n << "', which lorasub does not export";
}

TEST(MonitoringNames, DashboardQueriesUseExportedNames) {
  const nlohmann::json dash = nlohmann::json::parse(read("monitoring/grafana/lorasub-dashboard.json"));
  std::string exprs;
  size_t n = 0;
  for (const auto& p : dash.at("panels")) {
    ASSERT_FALSE(p.at("targets").empty()) << p.at("title");
    for (const auto& t : p.at("targets")) {
      exprs += t.at("expr").get<std::string>() + "\n";
      ++n;
    }
  }
  for (const auto& v : dash.at("templating").at("list"))
    if (v.contains("definition")) exprs += v.at("definition").get<std::string>() + "\n";
  EXPECT_GT(n, 15u);
  const auto used = names_used(exprs);
  expect_known(used, "the dashboard");
  // The dashboard shows every exported metric.
  for (const auto& name : metric_names()) EXPECT_TRUE(used.count(name)) << "the dashboard does not show " << name;
}

TEST(MonitoringNames, AlertRulesUseExportedNames) {
  const auto used = names_used(read("monitoring/alerts.yml"));
  EXPECT_GE(used.size(), 5u);
  expect_known(used, "monitoring/alerts.yml");
  expect_known(names_used(read("monitoring/tests/alerts_test.yml")), "monitoring/tests/alerts_test.yml");
}

}  // namespace
}  // namespace lorasub::obs
