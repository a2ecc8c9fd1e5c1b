// Feature drift against hand-computed cosine distances and accuracy differences.
#include "lorasub/train/drift.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

namespace lorasub::train {
namespace {

// 3 tasks of 2 classes, no shuffling: task j holds classes 2j, 2j+1.
data::TaskPlan plan3() { return data::TaskPlan::make(6, 2, 2, 3, false, 1); }

TEST(FeatureDrift, CosineDistanceAndStaleDropByHand) {
  const data::TaskPlan plan = plan3();
  DriftTracker tracker(plan);
  // After task 0: class 0 at (1,0), class 1 at (0,2).
  at::Tensor m0 = at::zeros({2, 2}, at::kFloat);
  m0[0][0] = 1;
  m0[1][1] = 2;
  EXPECT_TRUE(tracker.measure(0, m0, {90}, {90}).empty());
  tracker.remember(0, m0);
  // After task 1: class 0 turned 60 degrees (1 - cos = 0.5), class 1 only grew (0);
  // classes 2, 3 are new.
  at::Tensor m1 = at::zeros({4, 2}, at::kFloat);
  m1[0][0] = 0.5f;
  m1[0][1] = static_cast<float>(std::sqrt(3.0) / 2);
  m1[1][1] = 5;
  m1[2][0] = 1;
  m1[3][0] = -1;
  const auto r1 = tracker.measure(1, m1, {70, 80}, {75.5, 80});
  ASSERT_EQ(r1.size(), 1u);
  EXPECT_EQ(r1[0].task, 0);
  EXPECT_EQ(r1[0].after_task, 1);
  EXPECT_NEAR(r1[0].mean_cosine_distance, (0.5 + 0.0) / 2, 1e-7);  // float32 inputs
  EXPECT_DOUBLE_EQ(r1[0].stale_accuracy_drop, 5.5);
  tracker.remember(1, m1);
  // The reference of task 0 stays what it was when task 0 ended.
  EXPECT_TRUE(tracker.reference().narrow(0, 0, 2).equal(m0));
  EXPECT_TRUE(tracker.reference().narrow(0, 2, 2).equal(m1.narrow(0, 2, 2)));
  EXPECT_EQ(tracker.reference().size(0), 6);
  // After task 2: class 2 reversed (distance 2), class 3 unchanged; a class without test
  // images (zero mean) is left out of its task's average.
  at::Tensor m2 = at::zeros({6, 2}, at::kFloat);
  m2[0][0] = 1;
  m2[2][0] = -3;
  m2[3][0] = -1;
  const auto r2 = tracker.measure(2, m2, {60, 50, 40}, {58, 54, 40});
  ASSERT_EQ(r2.size(), 2u);
  EXPECT_NEAR(r2[0].mean_cosine_distance, 0.0, 1e-7);  // class 0 back at (1,0); class 1 has none
  EXPECT_NEAR(r2[1].mean_cosine_distance, (2.0 + 0.0) / 2, 1e-7);
  EXPECT_DOUBLE_EQ(r2[0].stale_accuracy_drop, -2);
  EXPECT_DOUBLE_EQ(r2[1].stale_accuracy_drop, 4);
}

TEST(FeatureDrift, TasksWithoutAReferenceAreNotMeasured) {
  // A run resumed from a checkpoint without drift references: nothing to compare to.
  const data::TaskPlan plan = plan3();
  DriftTracker tracker(plan);
  EXPECT_TRUE(tracker.measure(1, at::ones({4, 2}), {50, 50}, {50, 50}).empty());
  tracker.remember(1, at::ones({4, 2}));  // task 1 from now on; task 0 has none
  const auto r = tracker.measure(2, at::ones({6, 2}), {1, 2, 3}, {1, 2, 3});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].task, 1);
  EXPECT_NEAR(r[0].mean_cosine_distance, 0.0, 1e-12);
}

TEST(FeatureDrift, ResumedTrackerMeasuresTheSame) {
  const data::TaskPlan plan = plan3();
  DriftTracker a(plan), b(plan);
  at::Tensor m0 = at::randn({2, 8}), m1 = at::randn({4, 8});
  a.remember(0, m0);
  b.set_reference(a.reference().clone());  // what a checkpoint carries
  const auto ra = a.measure(1, m1, {1, 2}, {3, 4}), rb = b.measure(1, m1, {1, 2}, {3, 4});
  ASSERT_EQ(ra.size(), 1u);
  ASSERT_EQ(rb.size(), 1u);
  EXPECT_EQ(ra[0].mean_cosine_distance, rb[0].mean_cosine_distance);
}

TEST(DriftSample, EveryClassGetsItsOwnSeededImagesTheSameEveryTime) {
  // 3 classes: 5, 2 and 4 images, interleaved.
  const std::vector<int64_t> labels = {0, 1, 0, 2, 0, 2, 1, 0, 2, 0, 2};
  const auto a = draw_drift_sample(labels, 3, 3, 7), b = draw_drift_sample(labels, 3, 3, 7);
  EXPECT_EQ(a, b);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].size(), 3u);
  EXPECT_EQ(a[1], (std::vector<int64_t>{1, 6}));  // fewer images than asked: all of them
  EXPECT_EQ(a[2].size(), 3u);
  for (size_t c = 0; c < a.size(); ++c) {
    EXPECT_TRUE(std::is_sorted(a[c].begin(), a[c].end()));
    EXPECT_EQ(std::set<int64_t>(a[c].begin(), a[c].end()).size(), a[c].size()) << "class " << c;
    for (int64_t i : a[c]) EXPECT_EQ(labels.at(static_cast<size_t>(i)), static_cast<int64_t>(c));
  }
  // Another seed draws other images somewhere (10 of class 0's 10 three-subsets share one).
  bool differs = false;
  for (uint64_t seed = 8; seed < 16 && !differs; ++seed) differs = draw_drift_sample(labels, 3, 3, seed)[0] != a[0];
  EXPECT_TRUE(differs);
}

TEST(DriftSample, AutoSizeKeepsThePassesWithinOnePercentOfTraining) {
  // 3 tasks of 2 classes, 100 images a task, 5 epochs: 3 * 100 * 5 * 3 = 4500 forwards of
  // training; per image of sample per class the passes read 2 + 4 + 6 = 12 images; 1% of
  // 4500 is 45, so 45 / 12 -> 3 per class.
  const data::TaskPlan plan = plan3();
  EXPECT_EQ(auto_drift_sample(plan, {100, 100, 100}, 5, 5), 3);
  // Task 0 with 9 epochs: 3 * 100 * (9 + 5 + 5) = 5700 -> 57 / 12 = 4.75 -> 4.
  EXPECT_EQ(auto_drift_sample(plan, {100, 100, 100}, 9, 5), 4);
  EXPECT_EQ(auto_drift_sample(plan, {1000, 1000, 1000}, 50, 50), 64);  // capped
  EXPECT_EQ(auto_drift_sample(plan, {10, 10, 10}, 1, 1), 1);           // at least one image
}

TEST(DriftSample, EstimateIsStoredPlusTheSampleMovement) {
  const data::TaskPlan plan = plan3();
  DriftTracker tracker(plan);
  at::Tensor stored = at::tensor({1.0f, 2.0f, 3.0f, 4.0f}).reshape({2, 2});
  at::Tensor sample0 = at::tensor({1.5f, 2.0f, 2.0f, 4.5f}).reshape({2, 2});
  // After task 0: nothing earlier; the rows returned are the stored ones, the sample's kept.
  EXPECT_TRUE(tracker.fresh_from_sample(0, stored, sample0).equal(stored));
  EXPECT_TRUE(tracker.sample_reference().narrow(0, 0, 2).equal(sample0));
  // After task 1: class 0's sample moved by (+1, -1), class 1's by (0, +0.5).
  at::Tensor stored1 = at::cat({stored, at::full({2, 2}, 9.0f)});
  at::Tensor sample1 = at::tensor({2.5f, 1.0f, 2.0f, 5.0f, 7.0f, 7.0f, 8.0f, 8.0f}).reshape({4, 2});
  const at::Tensor fresh = tracker.fresh_from_sample(1, stored1, sample1);
  const at::Tensor expect = at::tensor({2.0f, 1.0f, 3.0f, 4.5f, 9.0f, 9.0f, 9.0f, 9.0f}).reshape({4, 2});
  EXPECT_TRUE(fresh.equal(expect)) << fresh;
  EXPECT_TRUE(tracker.sample_reference().narrow(0, 2, 2).equal(sample1.narrow(0, 2, 2)));
  EXPECT_TRUE(tracker.sample_reference().narrow(0, 0, 2).equal(sample0));  // kept from task 0
}

TEST(DriftSample, AClassWithoutASampleReferenceTakesTheSampleMean) {
  const data::TaskPlan plan = plan3();
  DriftTracker tracker(plan);  // as resumed from a checkpoint written without one
  at::Tensor stored = at::ones({4, 2}), sample = at::full({4, 2}, 3.0f);
  const at::Tensor fresh = tracker.fresh_from_sample(1, stored, sample);
  EXPECT_TRUE(fresh.narrow(0, 0, 2).equal(sample.narrow(0, 0, 2)));
  EXPECT_TRUE(fresh.narrow(0, 2, 2).equal(stored.narrow(0, 2, 2)));
}

}  // namespace
}  // namespace lorasub::train
