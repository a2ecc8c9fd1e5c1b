// InfLoRA's DualGPM memory and A_t design against cases computed by hand (diagonal
// covariances, whose singular vectors are the axes and whose energies are the squared
// diagonal), and the design's defining property on a random covariance. The numpy
// transcription of the reference's update_DualGPM is compared in tests/scripts/dual_gpm.sh.
#include "lorasub/method/dual_gpm.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace lorasub::method {
namespace {

at::Tensor diag(const std::vector<double>& v) { return at::diag(at::tensor(v, at::kDouble)); }

// The projector onto the axes `on` in dimension d.
at::Tensor axes_projector(const std::vector<int64_t>& on, int64_t d) {
  std::vector<double> v(static_cast<size_t>(d), 0.0);
  for (int64_t i : on) v[static_cast<size_t>(i)] = 1.0;
  return diag(v);
}

double frob_dist(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).norm().item<double>();
}

// Orthonormal columns spanning the given axes.
GpmMemory memory_on(const std::vector<int64_t>& axes, int64_t d, GpmMemory::Kind kind) {
  GpmMemory m;
  m.kind = kind;
  m.basis = at::zeros({d, static_cast<int64_t>(axes.size())}, at::kDouble);
  for (size_t j = 0; j < axes.size(); ++j) m.basis[axes[j]][static_cast<int64_t>(j)] = 1.0;
  return m;
}

TEST(DualGpm, ThresholdGrowsLinearlyWithTheTask) {
  EXPECT_DOUBLE_EQ(gpm_threshold(0.98, 1.0, 0, 10), 0.98);
  EXPECT_NEAR(gpm_threshold(0.98, 1.0, 5, 10), 0.99, 1e-15);
  EXPECT_NEAR(gpm_threshold(0.95, 1.0, 9, 10), 0.995, 1e-15);
}

// lambda^2 = 16 4 1 1 .25 .25 of 22.5: cumulative .711 .889 .933 .978 ...; three stay
// strictly below 0.95 (the crossing vector is left out in the first update).
TEST(DualGpm, FirstUpdateKeepsTheVectorsBelowTheThreshold) {
  const GpmMemory m = update_memory(GpmMemory{}, diag({4, 2, 1, 1, 0.5, 0.5}), 0.95);
  EXPECT_EQ(m.kind, GpmMemory::Kind::kRemove);
  ASSERT_EQ(m.columns(), 3);
  EXPECT_LT(frob_dist(m.projector(), axes_projector({0, 1, 2}, 6)), 1e-12);
  // Below every prefix: still one vector.
  EXPECT_EQ(update_memory(GpmMemory{}, diag({4, 2, 1, 1, 0.5, 0.5}), 0.5).columns(), 1);
}

// Memory {e1, e2}; C = diag(1 1 3 2 0 0): total 15, outside the memory 9 + 4, so the
// memory holds 2/15; 0.133 + 9/15 = 0.733 < 0.9, + 4/15 = 1: both join (the crossing
// vector counts here). Four columns pass d/2 = 3: the memory becomes the complement
// {e5, e6}, retained.
TEST(DualGpm, RemoveUpdateAddsUntilTheThresholdThenSwitchesToTheComplement) {
  const GpmMemory m0 = memory_on({0, 1}, 6, GpmMemory::Kind::kRemove);
  const GpmMemory m = update_memory(m0, diag({1, 1, 3, 2, 0, 0}), 0.9);
  EXPECT_EQ(m.kind, GpmMemory::Kind::kRetain);
  ASSERT_EQ(m.columns(), 2);
  EXPECT_LT(frob_dist(m.projector(), axes_projector({4, 5}, 6)), 1e-12);
  EXPECT_EQ(m.used_dims(6), 4);
  // With 0.5 the memory already holds too little, one vector (e3) brings it to 0.733.
  const GpmMemory one = update_memory(m0, diag({1, 1, 3, 2, 0, 0}), 0.5);
  EXPECT_EQ(one.kind, GpmMemory::Kind::kRemove);
  EXPECT_LT(frob_dist(one.projector(), axes_projector({0, 1, 2}, 6)), 1e-12);
  // Energy already held: nothing changes.
  EXPECT_EQ(update_memory(m0, diag({3, 2, 0.1, 0, 0, 0}), 0.99).columns(), 2);
}

// Retained complement {e5, e6}; C = diag(1 0 0 0 2 1): total 6, inside the complement
// 4 + 1 = 5/6. While that is >= 1 - 0.8 = 0.2 a vector leaves the complement: e5
// (5/6 - 4/6 = 1/6 < 0.2, stop). The complement is {e6}.
TEST(DualGpm, RetainUpdateShrinksTheComplement) {
  const GpmMemory m0 = memory_on({4, 5}, 6, GpmMemory::Kind::kRetain);
  const GpmMemory m = update_memory(m0, diag({1, 0, 0, 0, 2, 1}), 0.8);
  EXPECT_EQ(m.kind, GpmMemory::Kind::kRetain);
  ASSERT_EQ(m.columns(), 1);
  EXPECT_LT(frob_dist(m.projector(), axes_projector({5}, 6)), 1e-12);
}

// (I - P) C = diag(0 0 3 2 1 .5): A = [e3; e4] / sqrt(3); retained {e5, e6}: P C =
// diag(0 0 0 0 1 .5), A = [e5; e6] / sqrt(3); no memory: the top axes of C.
TEST(DualGpm, DesignTakesTheTopVectorsOutsideTheUsedSpace) {
  const at::Tensor c = diag({5, 4, 3, 2, 1, 0.5});
  auto rows = [](const std::vector<int64_t>& axes) {
    at::Tensor a = at::zeros({static_cast<int64_t>(axes.size()), 6}, at::kDouble);
    for (size_t j = 0; j < axes.size(); ++j) a[static_cast<int64_t>(j)][axes[j]] = 1.0 / std::sqrt(3.0);
    return a;
  };
  EXPECT_LT(frob_dist(design_down_projection(c, GpmMemory{}, 2), rows({0, 1})), 1e-7);
  EXPECT_LT(frob_dist(design_down_projection(c, memory_on({0, 1}, 6, GpmMemory::Kind::kRemove), 2), rows({2, 3})),
            1e-7);
  EXPECT_LT(frob_dist(design_down_projection(c, memory_on({4, 5}, 6, GpmMemory::Kind::kRetain), 2), rows({4, 5})),
            1e-7);
  EXPECT_EQ(design_down_projection(c, GpmMemory{}, 2).scalar_type(), at::kFloat);
}

// A random covariance and memory: A's rows are orthogonal to the memory (to fp32
// rounding of A: ~1e-7 per entry, 1e-6 over the 3 x 2 products), each of norm 1/sqrt(3),
// and orthogonal to each other.
TEST(DualGpm, DesignedRowsAreOrthogonalToTheMemory) {
  at::manual_seed(3);
  const at::Tensor x = at::randn({40, 8}, at::kDouble);
  const at::Tensor c = at::matmul(x.transpose(0, 1), x) / 40.0;
  const at::Tensor q = std::get<0>(at::linalg_qr(at::randn({8, 3}, at::kDouble)));
  GpmMemory m;
  m.basis = q;
  const at::Tensor a = design_down_projection(c, m, 3).to(at::kDouble);
  EXPECT_LT(at::matmul(a, q).norm().item<double>(), 1e-6);
  EXPECT_LT(frob_dist(at::matmul(a, a.transpose(0, 1)), at::eye(3, at::kDouble) / 3.0), 1e-6);
}

}  // namespace
}  // namespace lorasub::method
