#include "lorasub/obs/metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "lorasub/core/error.h"
#include "lorasub/obs/http_server.h"

namespace lorasub::obs {
namespace {

// A plain HTTP/1.0 GET on 127.0.0.1:port; returns the whole response (status line, headers, body).
std::string http_get(int port, const std::string& path, const std::string& auth_b64 = "") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!auth_b64.empty()) req += "Authorization: Basic " + auth_b64 + "\r\n";
  req += "\r\n";
  (void)!::write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// The value of the sample line starting with `series` (name and labels exactly as exposed), or NaN.
double value_of(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return NAN;
}

std::set<std::string> family_names(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) == 0) names.insert(line.substr(7, line.find(' ', 7) - 7));
  }
  return names;
}

MetricsOptions opts() {
  MetricsOptions o;
  o.enabled = true;
  o.bind = "127.0.0.1";
  o.port = 0;  // any free port
  o.run = "unit";
  o.rank = 1;
  return o;
}

TEST(Metrics, DisabledIsANullObject) {
  Metrics m;
  EXPECT_FALSE(m.enabled());
  EXPECT_EQ(m.port(), 0);
  m.step(1, 2, 3, 4, 0.1, 0.01, 0.001, 100);  // no-ops, no crash
  m.task_started(0, 5);
  m.epoch(0, 1);
  m.task_progress(0.5);
  m.covariance_pass(0, 1.0);
  m.drs_kept({1, 2});
  m.task_finished(0, {0.9}, 0.9, 0.9, 0);
  m.checkpoint_written("task_end", 0.1, 1e9);
  MetricsOptions o = opts();
  o.enabled = false;
  o.auth_file = "/nonexistent/auth";  // not even read when disabled
  Metrics d(o);
  EXPECT_FALSE(d.enabled());
}

TEST(Metrics, ServesEveryNamedMetricWithValues) {
  Metrics m(opts());
  ASSERT_TRUE(m.enabled());
  ASSERT_GT(m.port(), 0);
  m.task_started(1, 5);
  m.epoch(2, 3);
  m.step(0.5, 0.25, 0.625, 64, 0.2, 0.003, 0.0004, 4096);
  m.step(0.4, 0.2, 0.5, 64, 0.2, 0.003, 0.0004, 4096);
  m.task_progress(0.75);
  m.covariance_pass(1, 2.5);
  m.drs_kept({10, 12, 7});
  m.task_finished(1, {0.8, 0.95}, 0.875, 0.9, 0.05);
  m.feature_drift(0, 0.125, 0.0625);
  m.checkpoint_written("task_end", 0.3, 1700000000.0);

  const std::string r = http_get(m.port(), "/metrics");
  ASSERT_NE(r.find("200 OK"), std::string::npos) << r;
  // prometheus-cpp writes the constant labels (sorted) first, then the series' own.
  auto v = [&](const std::string& name, std::map<std::string, std::string> extra = {}) {
    std::string s = name + "{rank=\"1\",run=\"unit\"";
    for (const auto& [k, val] : extra) s += "," + k + "=\"" + val + "\"";
    return value_of(r, s + "}");
  };
  EXPECT_EQ(v("lorasub_images_processed_total"), 128);
  EXPECT_EQ(v("lorasub_steps_total"), 2);
  EXPECT_DOUBLE_EQ(v("lorasub_loss_ce"), 0.4);
  EXPECT_DOUBLE_EQ(v("lorasub_loss_atl"), 0.2);
  EXPECT_DOUBLE_EQ(v("lorasub_loss"), 0.5);
  EXPECT_EQ(v("lorasub_step_duration_seconds_count"), 2);
  EXPECT_DOUBLE_EQ(v("lorasub_step_duration_seconds_sum"), 0.4);
  EXPECT_EQ(v("lorasub_data_wait_seconds_count"), 2);
  EXPECT_EQ(v("lorasub_allreduce_duration_seconds_count"), 2);
  EXPECT_EQ(v("lorasub_allreduce_bytes_total"), 8192);
  EXPECT_EQ(v("lorasub_current_task"), 2);
  EXPECT_EQ(v("lorasub_tasks"), 5);
  EXPECT_EQ(v("lorasub_tasks_completed"), 2);
  EXPECT_EQ(v("lorasub_current_epoch"), 3);
  EXPECT_EQ(v("lorasub_epochs"), 3);
  EXPECT_EQ(v("lorasub_task_progress_ratio"), 1);  // task_finished sets it to 1
  EXPECT_DOUBLE_EQ(v("lorasub_task_accuracy_ratio", {{"task", "1"}}), 0.8);
  EXPECT_DOUBLE_EQ(v("lorasub_task_accuracy_ratio", {{"task", "2"}}), 0.95);
  EXPECT_DOUBLE_EQ(v("lorasub_accuracy_last_ratio"), 0.875);
  EXPECT_DOUBLE_EQ(v("lorasub_accuracy_average_ratio"), 0.9);
  EXPECT_DOUBLE_EQ(v("lorasub_forgetting_ratio"), 0.05);
  EXPECT_EQ(v("lorasub_drs_kept_dimensions", {{"block", "2"}}), 7);
  EXPECT_DOUBLE_EQ(v("lorasub_feature_drift", {{"task", "1"}}), 0.125);
  EXPECT_DOUBLE_EQ(v("lorasub_stale_prototype_accuracy_loss_ratio", {{"task", "1"}}), 0.0625);
  EXPECT_EQ(v("lorasub_covariance_pass_duration_seconds_count"), 1);
  EXPECT_EQ(v("lorasub_checkpoint_duration_seconds_count", {{"kind", "task_end"}}), 1);
  EXPECT_EQ(v("lorasub_last_checkpoint_timestamp_seconds"), 1700000000.0);
  EXPECT_GT(v("lorasub_start_time_seconds"), 1.6e9);
  EXPECT_GT(v("lorasub_process_resident_memory_bytes"), 1e6);

  // Every family the code lists is served, and nothing else with the prefix.
  std::set<std::string> served;
  for (const auto& n : family_names(r))
    if (n.rfind("lorasub_", 0) == 0) served.insert(n);
  const std::set<std::string> listed(metric_names().begin(), metric_names().end());
  EXPECT_EQ(served, listed);
  for (const auto& n : listed) {
    EXPECT_EQ(n.rfind("lorasub_", 0), 0u) << n;
    if (n.find("_seconds") != std::string::npos && n.find("timestamp") == std::string::npos &&
        n.find("start_time") == std::string::npos) {
      EXPECT_NE(r.find("# TYPE " + n + " histogram"), std::string::npos) << n;
    }
    if (n.size() > 6 && n.compare(n.size() - 6, 6, "_total") == 0) {
      EXPECT_NE(r.find("# TYPE " + n + " counter"), std::string::npos) << n;
    }
  }
}

TEST(Metrics, BasicAuthFromFile) {
  char path[] = "/tmp/lorasub_auth_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string secret = "prom:s3cret\n";
  ASSERT_EQ(::write(fd, secret.data(), secret.size()), static_cast<ssize_t>(secret.size()));
  ::close(fd);
  MetricsOptions o = opts();
  o.auth_file = path;
  Metrics m(o);
  EXPECT_NE(http_get(m.port(), "/metrics").find("401"), std::string::npos);
  EXPECT_NE(http_get(m.port(), "/metrics", "cHJvbTp3cm9uZw==").find("401"), std::string::npos);  // prom:wrong
  const std::string ok = http_get(m.port(), "/metrics", "cHJvbTpzM2NyZXQ=");                     // prom:s3cret
  EXPECT_NE(ok.find("200 OK"), std::string::npos);
  EXPECT_NE(ok.find("lorasub_steps_total"), std::string::npos);
  std::remove(path);

  o.auth_file = "/nonexistent/auth";
  EXPECT_THROW(Metrics bad(o), ConfigError);
}

TEST(Metrics, PortInUseIsNamed) {
  Metrics a(opts());
  MetricsOptions o = opts();
  o.port = a.port();
  try {
    Metrics b(o);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(a.port())), std::string::npos)
        << e.what();
  }
}

TEST(FileSd, WritesEveryRankAndRemovesAtExit) {
  char tmpl[] = "/tmp/lorasub_sd_XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = std::string(tmpl) + "/sub/dir";  // created on demand
  std::string path;
  {
    FileSdTargets sd(dir, "my run/1", {"127.0.0.1:9400", "127.0.0.1:9401"});
    path = sd.path();
    EXPECT_EQ(path, dir + "/lorasub-my_run_1.json");
    std::ifstream in(path);
    ASSERT_TRUE(in.good());
    const nlohmann::json j = nlohmann::json::parse(in);
    ASSERT_TRUE(j.is_array());
    ASSERT_EQ(j.size(), 2u);
    for (int r = 0; r < 2; ++r) {
      EXPECT_EQ(j[r]["targets"], nlohmann::json::array({"127.0.0.1:940" + std::to_string(r)}));
      EXPECT_EQ(j[r]["labels"]["run"], "my run/1");
      EXPECT_EQ(j[r]["labels"]["rank"], std::to_string(r));
    }
  }
  EXPECT_FALSE(std::ifstream(path).good());  // removed at destruction
  EXPECT_EQ(::rmdir(dir.c_str()), 0);        // and no temporary left behind
}

TEST(FileSd, AdvertisedTarget) {
  EXPECT_EQ(advertised_target("127.0.0.1", "node1", 9400), "127.0.0.1:9400");
  EXPECT_EQ(advertised_target("0.0.0.0", "node1", 9401), "node1:9401");
  EXPECT_EQ(advertised_target("", "node1", 9401), "node1:9401");
  EXPECT_EQ(advertised_target("::1", "node1", 9401), "[::1]:9401");
}

TEST(Metrics, ResidentMemory) { EXPECT_GT(resident_memory_bytes(), 1 << 20); }

}  // namespace
}  // namespace lorasub::obs

namespace lorasub::obs {
namespace {

TEST(HttpServer, OnlyMetricsIsServed) {
  Metrics m(opts());
  EXPECT_NE(http_get(m.port(), "/").find("404"), std::string::npos);
  EXPECT_NE(http_get(m.port(), "/metrics?x=1").find("200 OK"), std::string::npos);
}

TEST(HttpServer, Base64) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("prom:s3cret"), "cHJvbTpzM2NyZXQ=");
}

}  // namespace
}  // namespace lorasub::obs
