#include "lorasub/report/report.h"

#include <gtest/gtest.h>

#include "lorasub/core/error.h"
#include "lorasub/report/svg.h"
#include "unit/report/report_fixture.h"

namespace lorasub::report {
namespace {

using io::test::TempDir;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

// The <svg data-plot="plot"> ... </svg> element of a page.
std::string plot_of(const std::string& html, const std::string& plot) {
  const size_t a = html.find("data-plot=\"" + plot + "\"");
  if (a == std::string::npos) return "";
  return html.substr(a, html.find("</svg>", a) - a);
}

const std::vector<std::vector<double>> kFourTasks = {{90}, {80, 95}, {70, 85, 99}, {60, 75, 90, 98}};

TEST(Report, HeatmapHasOneCellPerLowerTriangularEntry) {
  Heatmap m;
  m.rows = kFourTasks;
  EXPECT_EQ(count(render(m), "class=\"cell\""), 10u);  // 1 + 2 + 3 + 4
  RunData r = parse_results(test::results_json("r", "lora-drs", 1, kFourTasks).dump(), "results.json");
  const std::string html = render_report({r});
  EXPECT_EQ(count(plot_of(html, "accuracy-matrix"), "class=\"cell\""), 10u);
  EXPECT_NE(plot_of(html, "accuracy-matrix").find(">85.0<"), std::string::npos);  // R[2][1] written in its cell
  // Kept dims: 2 blocks x 4 tasks.
  EXPECT_EQ(count(plot_of(html, "drs-kept-dims"), "class=\"cell\""), 8u);
}

TEST(Report, PlotsPerRunAndComparison) {
  nlohmann::json j = test::results_json("r", "lora-drs", 1, kFourTasks);
  const RunData drs = parse_results(j.dump(), "results.json");
  // matrix, A_t, task accuracy, forgetting, kept dims, phases.
  EXPECT_EQ(count_plots(render_report({drs})), 6);
  j["feature_drift"] = {{{"task", 0}, {"after_task", 1}, {"mean_cosine_distance", 0.1}, {"stale_accuracy_drop", 2.0}},
                        {{"task", 0}, {"after_task", 2}, {"mean_cosine_distance", 0.2}, {"stale_accuracy_drop", 4.0}}};
  for (auto& t : j["tasks"]) t["train_images"] = 500;
  const RunData full = parse_results(j.dump(), "results.json");
  EXPECT_EQ(count_plots(render_report({full})), 9);  // + drift x 2 + throughput per task
  const RunData ncm = parse_results(test::results_json("n", "ncm", 1, {{80}}, false).dump(), "results.json");
  EXPECT_EQ(count_plots(render_report({ncm})), 4);  // one task, no DRS: no forgetting, no kept dims
  // Three runs: each run's plots plus the overlaid A_t and the throughput per run.
  EXPECT_EQ(count_plots(render_report({drs, full, ncm})), 6 + 9 + 4 + 2);
}

TEST(Report, ComparisonTableMeanAndSampleStd) {
  TempDir dir;
  std::vector<std::string> runs;
  const double a_last[] = {45.0, 47.0, 49.0};
  for (int s = 1; s <= 3; ++s) {
    nlohmann::json j = test::results_json("d-s" + std::to_string(s), "lora-drs", s, {{90}, {80, 95}});
    j["A_last"] = a_last[s - 1];
    j["A_avg"] = 60.0 + s;
    j["forgetting"] = static_cast<double>(s);
    runs.push_back(test::make_run(dir, "d-s" + std::to_string(s), j, test::config_yaml("d", s)));
  }
  nlohmann::json seq = test::results_json("q-s1", "seq-lora", 1, {{90}, {50, 95}});
  runs.push_back(test::make_run(dir, "q-s1", seq, test::config_yaml("q", 1, "seq-lora")));
  const std::string out = dir / "report.html";
  EXPECT_EQ(write_report(runs, out, false), 4 * 6 + 2);
  const std::string html = io::test::read_bytes(out);
  // A_last 45, 47, 49: 47 +- 2; A_avg 61, 62, 63 and forgetting 1, 2, 3: +- 1.
  EXPECT_NE(html.find("lora-drs</td><td>3</td><td>47.00 &plusmn; 2.00</td><td>62.00 &plusmn; 1.00</td>"
                      "<td>2.00 &plusmn; 1.00</td>"),
            std::string::npos);
  EXPECT_NE(html.find("seq-lora</td><td>1</td><td>72.50 &plusmn; \xE2\x80\x93</td>"), std::string::npos);
}

TEST(Report, ConfigTextAndNamesAreEscaped) {
  TempDir dir;
  const std::string cfg = "run:\n  name: \"<script>alert('x')</script> & \\\"q\\\"\"\n";
  const std::string run = test::make_run(dir, "e", test::results_json("<b>e</b>", "lora-drs", 1, {{100}}), cfg);
  write_report({run}, dir / "r.html", false);
  const std::string html = io::test::read_bytes(dir / "r.html");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<b>e"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; \\&quot;q\\&quot;"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;e&lt;/b&gt;"), std::string::npos);
}

TEST(Report, OutputIsNeverOverwrittenUnlessAsked) {
  TempDir dir;
  const std::string run = test::make_run(dir, "r", test::results_json("r", "lora-drs", 1, {{100}}), "");
  const std::string out = dir / "report.html";
  io::test::write_bytes(out, "mine");
  try {
    write_report({run}, out, false);
    FAIL() << "an existing output was overwritten";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos);
  }
  EXPECT_EQ(io::test::read_bytes(out), "mine");
  write_report({run}, out, true);
  EXPECT_NE(io::test::read_bytes(out).find("<svg"), std::string::npos);
  EXPECT_THROW(write_report({run}, dir / "no/such/dir.html", false), ConfigError);
  EXPECT_THROW(write_report({run}, dir.path(), true), ConfigError);  // a directory
  EXPECT_THROW(write_report({run, dir / "nope"}, dir / "x.html", false), ConfigError);
  EXPECT_EQ(dir.entries().count("x.html"), 0u);  // nothing written when a run is bad
}

TEST(Report, RunReportGoesIntoTheRunDirectory) {
  TempDir dir;
  const std::string run = test::make_run(dir, "r", test::results_json("r", "lora-drs", 1, {{100}}), "");
  EXPECT_EQ(write_run_report(run), run + "/report.html");
  EXPECT_EQ(write_run_report(run), run + "/report.html");  // its own file: replaced
  EXPECT_EQ(count_plots(io::test::read_bytes(run + "/report.html")), 5);
}

TEST(Report, NiceTicks) {
  EXPECT_EQ(nice_ticks(0, 100, 6), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  EXPECT_EQ(nice_ticks(-3, 7, 6), (std::vector<double>{-4, -2, 0, 2, 4, 6, 8}));
  EXPECT_EQ(nice_ticks(0, 0.9, 4), (std::vector<double>{0, 0.5, 1.0}));
}

}  // namespace
}  // namespace lorasub::report
