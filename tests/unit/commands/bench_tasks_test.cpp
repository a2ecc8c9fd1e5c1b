// The per-task bench table's ratios and growth rates against hand-made summaries.
#include "lorasub/commands/bench_tasks.h"

#include <gtest/gtest.h>

namespace lorasub::commands {
namespace {

train::TrainSummary summary(int tasks) {
  train::TrainSummary s;
  for (int t = 0; t < tasks; ++t) {
    train::PhaseSeconds p;
    p.covariance = t == 0 ? 0 : 2.0;
    p.prototypes = 1.0;
    p.eval = 0.5 + 0.25 * t;  // grows 0.25 s a task
    p.drift = 0.1 * t;        // grows 0.1 s a task
    p.checkpoint = 0.5;
    p.train = 4.0;
    s.seconds.push_back(p);
    s.step_seconds.push_back(t == tasks - 1 ? 1.1 : 1.0);
    const int64_t mb = 1024 * 1024;
    s.resources.push_back({t, (900 + 3 * t) * mb, (800 + 2 * t) * mb, (30 + t) * mb / 2});
  }
  return s;
}

TEST(BenchTasks, RatiosAndGrowthByHand) {
  const TaskGrowth g = task_growth(summary(5));
  EXPECT_DOUBLE_EQ(g.step_ratio, 1.1);
  EXPECT_DOUBLE_EQ(g.peak_rss_ratio, 912.0 / 903.0);
  // boundary of task 2 (index 1): 2 + 1 + 0.75 + 0.1 + 0.5; of task 5: 2 + 1 + 1.5 + 0.4 + 0.5
  EXPECT_DOUBLE_EQ(g.boundary_ratio, 5.4 / 4.35);
  EXPECT_NEAR(g.ckpt_mb_per_task, 0.5, 1e-12);
  EXPECT_NEAR(g.rss_mb_per_task, 2.0, 1e-12);
  EXPECT_NEAR(g.eval_s_per_task, 0.25, 1e-12);
  EXPECT_NEAR(g.drift_s_per_task, 0.1, 1e-12);
  const std::string table = per_task_table(summary(5));
  EXPECT_NE(table.find("last / task 2: step time 1.100, peak RSS 1.010, boundary 1.24"), std::string::npos) << table;
}

TEST(BenchTasks, FewerThanTwoTasksGiveNoRatios) {
  const TaskGrowth g = task_growth(summary(1));
  EXPECT_EQ(g.step_ratio, 0);
  EXPECT_EQ(g.ckpt_mb_per_task, 0);
}

}  // namespace
}  // namespace lorasub::commands
