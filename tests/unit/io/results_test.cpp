#include "lorasub/io/results.h"

#include <gtest/gtest.h>

#include "unit/io/temp_dir.h"

namespace lorasub::io {
namespace {

using test::read_bytes;
using test::TempDir;

TEST(Results, AccuracyMatrixCsvIsLowerTriangular) {
  const std::vector<std::vector<double>> r = {{95.0}, {88.5, 91.25}, {80.333, 85.667, 90.0}};
  EXPECT_EQ(accuracy_matrix_csv(r), "after_task,task_0,task_1,task_2\n"
                                    "0,95.00,,\n"
                                    "1,88.50,91.25,\n"
                                    "2,80.33,85.67,90.00\n");
}

TEST(Results, AccuracyMatrixCsvIgnoresTheUpperTriangle) {
  const std::vector<std::vector<double>> full = {{100.0, 7.0}, {50.0, 99.999}};
  EXPECT_EQ(accuracy_matrix_csv(full), "after_task,task_0,task_1\n0,100.00,\n1,50.00,100.00\n");
  EXPECT_EQ(accuracy_matrix_csv({}), "after_task\n");
}

TEST(Results, AccuracyMatrixCsvRejectsShortRows) {
  EXPECT_THROW(accuracy_matrix_csv({{1.0}, {2.0}}), std::invalid_argument);
  EXPECT_THROW(accuracy_matrix_csv({{1.0, 2.0, 3.0}}), std::invalid_argument);
}

TEST(Results, WriteJsonIsPrettyAndAtomic) {
  TempDir dir;
  RunDir run(dir.path(), "r");
  run.create();
  const nlohmann::json value = {{"final_accuracy", 81.5}, {"tasks", 10}, {"matrix", {{95.0}, {88.5, 91.25}}}};
  write_json(run, "results.json", value);
  const std::string text = read_bytes(run.file("results.json"));
  EXPECT_EQ(nlohmann::json::parse(text), value);
  EXPECT_EQ(text, value.dump(2) + "\n");
  EXPECT_EQ(dir.entries("r"), (std::set<std::string>{"checkpoints", "results.json"}));
}

}  // namespace
}  // namespace lorasub::io
