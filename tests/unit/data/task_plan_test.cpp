#include "lorasub/data/task_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "data_test_util.h"
#include "lorasub/core/error.h"

namespace lorasub::data {
namespace {

using V = std::vector<int64_t>;

V identity(int64_t n) {
  V v(n);
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

TEST(TaskPlan, EvenSplit) {
  const TaskPlan p = TaskPlan::make(10, 2, 2, 0, false, 0);
  EXPECT_EQ(p.num_tasks(), 5);
  EXPECT_EQ(p.task_sizes(), V(5, 2));
  EXPECT_EQ(p.num_classes(), 10);
  EXPECT_EQ(p.class_order(), identity(10));
  EXPECT_EQ(p.first_class(3), 6);
  EXPECT_EQ(p.end_class(3), 8);
}

TEST(TaskPlan, InitThenIncrement) {
  const TaskPlan p = TaskPlan::make(10, 4, 3, 0, false, 0);
  EXPECT_EQ(p.task_sizes(), (V{4, 3, 3}));
  EXPECT_EQ(p.first_class(0), 0);
  EXPECT_EQ(p.first_class(1), 4);
  EXPECT_EQ(p.first_class(2), 7);
  EXPECT_EQ(p.first_class(3), 10);
  EXPECT_EQ(p.end_class(2), 10);
}

TEST(TaskPlan, RemainderBecomesSmallerTask) {
  const TaskPlan p = TaskPlan::make(10, 3, 4, 0, false, 0);
  EXPECT_EQ(p.task_sizes(), (V{3, 4, 3}));
  EXPECT_EQ(p.num_classes(), 10);
}

TEST(TaskPlan, AllClassesInFirstTask) {
  const TaskPlan p = TaskPlan::make(10, 10, 5, 0, false, 0);
  EXPECT_EQ(p.task_sizes(), V{10});
}

TEST(TaskPlan, NumTasksLimit) {
  const TaskPlan p = TaskPlan::make(10, 2, 2, 3, false, 0);
  EXPECT_EQ(p.num_tasks(), 3);
  EXPECT_EQ(p.num_classes(), 6);
  EXPECT_EQ(p.class_order().size(), 10u);
  EXPECT_EQ(p.task_of_class(5), 2);
  EXPECT_EQ(p.task_of_class(6), -1);
  const V map = p.label_map();
  ASSERT_EQ(map.size(), 10u);
  for (int64_t c = 0; c < 10; ++c) EXPECT_EQ(map[c], c < 6 ? c : -1);
  EXPECT_EQ(TaskPlan::make(10, 2, 2, 5, false, 0).num_tasks(), 5);
}

TEST(TaskPlan, TaskOfClass) {
  const TaskPlan p = TaskPlan::make(10, 4, 3, 0, false, 0);
  const V want{0, 0, 0, 0, 1, 1, 1, 2, 2, 2};
  for (int64_t c = 0; c < 10; ++c) EXPECT_EQ(p.task_of_class(c), want[c]) << c;
  EXPECT_EQ(p.task_of_class(-1), -1);
  EXPECT_EQ(p.task_of_class(10), -1);
  EXPECT_THROW(p.first_class(4), std::out_of_range);
  EXPECT_THROW(p.task_size(3), std::out_of_range);
}

TEST(TaskPlan, ShuffleIsDeterministicPermutationAndSeeded) {
  const TaskPlan a = TaskPlan::make(100, 10, 10, 0, true, 1993);
  const TaskPlan b = TaskPlan::make(100, 10, 10, 0, true, 1993);
  const TaskPlan c = TaskPlan::make(100, 10, 10, 0, true, 1994);
  EXPECT_EQ(a.class_order(), b.class_order());
  EXPECT_NE(a.class_order(), c.class_order());
  EXPECT_NE(a.class_order(), identity(100));
  V sorted = a.class_order();
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, identity(100));
  // Truncating tasks does not change the order.
  EXPECT_EQ(TaskPlan::make(100, 10, 10, 2, true, 1993).class_order(), a.class_order());
}

TEST(TaskPlan, LabelMapInvertsClassOrder) {
  const TaskPlan p = TaskPlan::make(20, 5, 5, 0, true, 7);
  const V map = p.label_map();
  for (int64_t pos = 0; pos < 20; ++pos) EXPECT_EQ(map[p.class_order()[pos]], pos);
}

TEST(TaskPlan, IndicesInRange) {
  const V labels{3, 0, 5, 1, 3, 4, 2};
  EXPECT_EQ(TaskPlan::indices_in_range(labels, 1, 4), (V{0, 3, 4, 6}));
  EXPECT_EQ(TaskPlan::indices_in_range(labels, 6, 9), V{});
  EXPECT_EQ(TaskPlan::indices_in_range(labels, 0, 6).size(), labels.size());
}

std::string config_error(int64_t n, int64_t init, int64_t inc, int64_t tasks) {
  try {
    TaskPlan::make(n, init, inc, tasks, false, 0);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for " << n << "/" << init << "/" << inc << "/" << tasks;
  return "";
}

TEST(TaskPlan, Errors) {
  EXPECT_CONTAINS(config_error(10, 11, 1, 0), "init_cls");
  EXPECT_CONTAINS(config_error(10, 0, 1, 0), "init_cls");
  EXPECT_CONTAINS(config_error(10, 2, 0, 0), "increment");
  EXPECT_CONTAINS(config_error(0, 1, 1, 0), "num_classes");
  EXPECT_CONTAINS(config_error(10, 2, 2, -1), "num_tasks");
  const std::string msg = config_error(10, 4, 3, 4);
  EXPECT_CONTAINS(msg, "num_tasks = 4");
  EXPECT_CONTAINS(msg, "only 3 tasks are available");
}

}  // namespace
}  // namespace lorasub::data
