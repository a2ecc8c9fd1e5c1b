#include "lorasub/report/run_data.h"

#include <gtest/gtest.h>

#include "lorasub/core/error.h"
#include "unit/report/report_fixture.h"

namespace lorasub::report {
namespace {

using io::test::TempDir;

// The message of the exception `f` throws as E ("" when it throws nothing).
template <class E, class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

TEST(ReportRunData, ReadsWhatTrainWrites) {
  TempDir dir;
  nlohmann::json j = test::results_json("one", "lora-drs", 5, {{100}, {93.75, 87.5}});
  j["feature_drift"] = {{{"task", 0}, {"after_task", 1}, {"mean_cosine_distance", 0.125}, {"stale_accuracy_drop", 3.5}},
                        // not two tasks of this run: skipped
                        {{"task", 1}, {"after_task", 1}, {"mean_cosine_distance", 0.5}},
                        {{"task", 0}, {"after_task", 2}, {"mean_cosine_distance", 0.5}},
                        {{"task", 1e300}, {"after_task", 1}, {"mean_cosine_distance", 0.5}}};
  const RunData r = load_run(test::make_run(dir, "one", j, test::config_yaml("one", 5)));
  EXPECT_EQ(r.run, "one");
  EXPECT_EQ(r.method, "lora-drs");
  EXPECT_EQ(r.seed, 5);
  ASSERT_EQ(r.matrix.size(), 2u);
  EXPECT_EQ(r.matrix[1], (std::vector<double>{93.75, 87.5}));
  ASSERT_EQ(r.tasks.size(), 2u);
  EXPECT_DOUBLE_EQ(r.tasks[1].overall, 90.625);
  EXPECT_EQ(r.tasks[1].kept_dims, (std::vector<int64_t>{15, 14}));
  EXPECT_DOUBLE_EQ(r.tasks[0].seconds.prototypes, 0.2);
  EXPECT_EQ(r.tasks[0].train_images, -1);  // not recorded
  ASSERT_EQ(r.drift.size(), 1u);
  EXPECT_EQ(r.drift[0].after_task, 1);
  EXPECT_DOUBLE_EQ(r.drift[0].cosine_distance, 0.125);
  EXPECT_TRUE(r.drift[0].has_accuracy_drop);
  EXPECT_EQ(r.config.at("drs.project"), "true");
  EXPECT_EQ(r.config.at("train.lr"), "0.0005");
}

TEST(ReportRunData, ToleratesMissingOptionalKeys) {
  // An ncm run: no kept dims, no drift, no training time, no config.yaml.
  TempDir dir;
  nlohmann::json j = test::results_json("ncm", "ncm", 1, {{80}}, /*drs=*/false);
  j.erase("bwt");
  j["tasks"][0].erase("drs_kept_dims");
  const RunData r = load_run(test::make_run(dir, "ncm", j, ""));
  EXPECT_TRUE(r.tasks[0].kept_dims.empty());
  EXPECT_TRUE(r.drift.empty());
  EXPECT_TRUE(r.config_yaml.empty());
  EXPECT_EQ(r.bwt, 0);
}

TEST(ReportRunData, MalformedResultsNameTheFile) {
  const std::string path = "runs/x/results.json";
  EXPECT_NE(error_of<FormatError>([&] {
              parse_results("{\"method\": ", path);
            }).find("'runs/x/results.json': not valid JSON"),
            std::string::npos);
  EXPECT_NE(error_of<FormatError>([&] { parse_results("[1, 2]", path); }).find("not a JSON object"), std::string::npos);
  nlohmann::json j = test::results_json("x", "lora-drs", 1, {{100}, {90, 80}});
  nlohmann::json no_matrix = j;
  no_matrix.erase("accuracy_matrix");
  EXPECT_NE(error_of<FormatError>([&] {
              parse_results(no_matrix.dump(), path);
            }).find(path + "': missing array 'accuracy_matrix'"),
            std::string::npos);
  nlohmann::json short_row = j;
  short_row["accuracy_matrix"][1] = {90};
  EXPECT_NE(error_of<FormatError>([&] { parse_results(short_row.dump(), path); }).find("row 1 needs 2 numbers"),
            std::string::npos);
  nlohmann::json text_a = j;
  text_a["A_last"] = "high";
  EXPECT_NE(error_of<FormatError>([&] { parse_results(text_a.dump(), path); }).find("'A_last' is not a number"),
            std::string::npos);
  nlohmann::json rows = j;
  rows["tasks"].erase(1);
  EXPECT_NE(error_of<FormatError>([&] { parse_results(rows.dump(), path); }).find("1 tasks but 2 accuracy_matrix rows"),
            std::string::npos);
}

TEST(ReportRunData, BadRunDirectoriesAreConfigErrors) {
  TempDir dir;
  EXPECT_NE(error_of<ConfigError>([&] { load_run(dir / "missing"); }).find(dir / "missing"), std::string::npos);
  io::test::write_bytes(dir / "file", "x");
  EXPECT_NE(error_of<ConfigError>([&] { load_run(dir / "file"); }).find("not a directory"), std::string::npos);
  EXPECT_NE(error_of<ConfigError>([&] { load_run(dir.path()); }).find(dir / "results.json"), std::string::npos);
  io::test::write_bytes(dir / "results.json", "not json");
  EXPECT_NE(error_of<FormatError>([&] { load_run(dir.path()); }).find(dir / "results.json"), std::string::npos);
}

TEST(ReportRunData, FlattenConfig) {
  const auto c = flatten_config("run:\n  name: \"a b\"\n  seed: 3\ndata:\n  root: ''\n# comment\nbare line\n");
  EXPECT_EQ(c.at("run.name"), "a b");
  EXPECT_EQ(c.at("run.seed"), "3");
  EXPECT_EQ(c.at("data.root"), "");
  EXPECT_EQ(c.size(), 3u);
}

}  // namespace
}  // namespace lorasub::report
