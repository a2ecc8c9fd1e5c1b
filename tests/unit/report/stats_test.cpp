#include "lorasub/report/stats.h"

#include <gtest/gtest.h>

#include <cmath>

#include "unit/report/report_fixture.h"

namespace lorasub::report {
namespace {

TEST(ReportStats, MeanAndSampleStdByHand) {
  // 45, 47, 49: mean 47; squared deviations 4 + 0 + 4 = 8, / (3 - 1) = 4, sqrt = 2.
  EXPECT_DOUBLE_EQ(mean({45, 47, 49}), 47.0);
  EXPECT_DOUBLE_EQ(sample_std({45, 47, 49}), 2.0);
  // 1, 2, 3, 4: mean 2.5; 2.25 + 0.25 + 0.25 + 2.25 = 5, / 3, sqrt = 1.2909944487...
  EXPECT_NEAR(sample_std({1, 2, 3, 4}), 1.2909944487358056, 1e-15);
  EXPECT_TRUE(std::isnan(sample_std({47})));  // n - 1 = 0: undefined, not 0
  EXPECT_TRUE(std::isnan(mean({})));
}

TEST(ReportStats, PerTaskForgettingByHand) {
  const std::vector<std::vector<double>> r = {{90}, {80, 95}, {70, 85, 99}};
  // task 1: best of 90, 80 = 90, final 70 -> 20; task 2: best 95, final 85 -> 10; the last has none.
  EXPECT_EQ(per_task_forgetting(r), (std::vector<double>{20, 10}));
  // Accuracy that rose is negative forgetting.
  EXPECT_EQ(per_task_forgetting({{60}, {70, 80}}), (std::vector<double>{-10}));
  EXPECT_TRUE(per_task_forgetting({{100}}).empty());
}

TEST(ReportStats, NameStemDropsTheSeedSuffix) {
  EXPECT_EQ(name_stem("demo-s2"), "demo");
  EXPECT_EQ(name_stem("demo_seed12"), "demo");
  EXPECT_EQ(name_stem("demo-3"), "demo");
  EXPECT_EQ(name_stem("demo-seq-s1"), "demo-seq");
  EXPECT_EQ(name_stem("demo-seq"), "demo-seq");
  EXPECT_EQ(name_stem("bass2"), "bass");  // no separator: digits only
  EXPECT_EQ(name_stem("42"), "42");
}

RunData run_of(const std::string& name, const std::string& method, int seed, bool project, bool with_config = true) {
  RunData r;
  r.run = name;
  r.method = method;
  if (with_config) r.config = flatten_config(test::config_yaml(name, seed, method, project));
  return r;
}

TEST(ReportStats, SeedsGroupTogetherAndDifferingKeysLabelTheGroups) {
  const std::vector<RunData> runs = {run_of("a-s1", "lora-drs", 1, true), run_of("a-s2", "lora-drs", 2, true),
                                     run_of("np-s1", "lora-drs", 1, false), run_of("seq-s1", "seq-lora", 1, true),
                                     run_of("seq-s2", "seq-lora", 2, true)};
  const std::vector<Group> g = group_runs(runs);
  ASSERT_EQ(g.size(), 3u);
  // run.name, run.seed and train.threads differ too, but they are bookkeeping.
  EXPECT_EQ(g[0].label, "lora-drs drs.project=true");
  EXPECT_EQ(g[0].runs, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(g[1].label, "lora-drs drs.project=false");
  EXPECT_EQ(g[1].runs, (std::vector<size_t>{2}));
  EXPECT_EQ(g[2].label, "seq-lora");
  EXPECT_EQ(g[2].runs, (std::vector<size_t>{3, 4}));
}

TEST(ReportStats, WithoutConfigRunsGroupByMethodAndNameStem) {
  const std::vector<RunData> runs = {run_of("demo-s1", "ncm", 1, true, false), run_of("demo-s2", "ncm", 2, true, false),
                                     run_of("other-s1", "ncm", 1, true, false)};
  const std::vector<Group> g = group_runs(runs);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].label, "ncm demo");
  EXPECT_EQ(g[0].runs.size(), 2u);
  EXPECT_EQ(g[1].label, "ncm other");
}

TEST(ReportStats, BookkeepingKeys) {
  EXPECT_TRUE(is_bookkeeping_key("run.seed"));
  EXPECT_TRUE(is_bookkeeping_key("model.weights"));
  EXPECT_FALSE(is_bookkeeping_key("drs.subtract"));
  EXPECT_FALSE(is_bookkeeping_key("train.lr"));
}

}  // namespace
}  // namespace lorasub::report
