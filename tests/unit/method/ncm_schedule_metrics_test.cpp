// NCM, the reference schedule and the accuracy-matrix metrics on hand-made values.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "lorasub/method/accuracy_matrix.h"
#include "lorasub/method/ncm.h"
#include "lorasub/method/normalize.h"
#include "lorasub/method/schedule.h"

namespace lorasub::method {
namespace {

TEST(Ncm, CosineNearestMean) {
  // Prototypes differ in length: cosine ignores it. x0 points at class 1's direction
  // although it is closer to class 0 in plain euclidean distance.
  at::Tensor protos = at::tensor({1.0f, 0.0f, 0.0f, 10.0f, 10.0f, 10.0f}).reshape({3, 2});
  at::Tensor x = at::tensor({0.1f, 1.0f, 5.0f, 0.1f, 1.0f, 1.1f, 0.0f, 0.0f}).reshape({4, 2});
  at::Tensor pred = ncm_predict(x, protos);
  EXPECT_EQ(pred[0].item<int64_t>(), 1);
  EXPECT_EQ(pred[1].item<int64_t>(), 0);
  EXPECT_EQ(pred[2].item<int64_t>(), 2);
  // A zero feature is equidistant from every unit prototype: the eps keeps it finite
  // (no NaN from 0/0), and the tie goes to whichever rounds lowest.
  EXPECT_GE(pred[3].item<int64_t>(), 0);
  EXPECT_LT(pred[3].item<int64_t>(), 3);
  at::Tensor zero = l2_normalize(at::zeros({1, 2}), 1e-8);
  EXPECT_TRUE(at::isfinite(zero).all().item<bool>());
}

TEST(Schedule, ReferenceValues) {
  EXPECT_DOUBLE_EQ(lr_multiplier(0, 5), 1.0);
  EXPECT_DOUBLE_EQ(lr_multiplier(1, 5), 1.0);  // epochs 0 and 1 both at the base rate
  EXPECT_DOUBLE_EQ(lr_multiplier(2, 5), std::cos(99.0 * M_PI * 1 / (200.0 * 4)));
  EXPECT_DOUBLE_EQ(lr_multiplier(4, 5), std::cos(99.0 * M_PI * 3 / 800.0));
  // K is the later-task count even in task 0: init_epochs 40 with epochs 50
  EXPECT_DOUBLE_EQ(lr_multiplier(39, 50), std::cos(99.0 * M_PI * 38 / (200.0 * 49)));
  EXPECT_DOUBLE_EQ(lr_multiplier(0, 1), 1.0);  // K = 1: defined as 1
  EXPECT_DOUBLE_EQ(lr_multiplier(3, 1), 1.0);
  EXPECT_GT(lr_multiplier(49, 50), 0.0);  // never reaches zero (99/200 of pi/2... )
}

TEST(AccuracyMatrix, MetricsOnHandMadeMatrix) {
  AccuracyMatrix m;
  m.add_row({90.0}, 90.0);
  m.add_row({80.0, 70.0}, 75.004);
  m.add_row({60.0, 65.0, 50.0}, 58.333);
  EXPECT_DOUBLE_EQ(m.a_last(), 58.333);
  EXPECT_DOUBLE_EQ(m.a_avg(), (90.0 + 75.0 + 58.33) / 3.0);  // each rounded to 2 decimals
  // forgetting: task0 max(90, 80) - 60 = 30; task1 max(70) - 65 = 5 -> 17.5
  EXPECT_DOUBLE_EQ(m.forgetting(), 17.5);
  // BWT: (60 - 90 + 65 - 70) / 2 = -17.5
  EXPECT_DOUBLE_EQ(m.bwt(), -17.5);
  EXPECT_THROW(m.add_row({1.0}, 1.0), std::invalid_argument);
  AccuracyMatrix one;
  one.add_row({50.0}, 50.0);
  EXPECT_EQ(one.forgetting(), 0.0);
  EXPECT_EQ(one.bwt(), 0.0);
}

}  // namespace
}  // namespace lorasub::method
