// Covariance sums and the DRS projector against hand-computed cases.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "lorasub/method/covariance.h"
#include "lorasub/method/drs_projector.h"

namespace lorasub::method {
namespace {

TEST(DrsProjector, KeptDimensionsByEnergyRule) {
  // 10/16.01 = .625, 15/16.01 = .937, 16/16.01 = .99938 -> k = 3
  EXPECT_EQ(kept_dimensions({10, 5, 1, 0.01}, 0.99), 3);
  EXPECT_EQ(kept_dimensions({99, 1}, 0.99), 1);  // exactly at the threshold counts
  EXPECT_EQ(kept_dimensions({98.9, 1.1}, 0.99), 2);
  EXPECT_EQ(kept_dimensions({1, 1, 1, 1}, 1.0), 4);
  EXPECT_EQ(kept_dimensions({5, 0, 0}, 0.99), 1);
  EXPECT_THROW(kept_dimensions({0, 0}, 0.99), std::runtime_error);
}

TEST(DrsProjector, DiagonalCovariance) {
  at::Tensor c = at::diag(at::tensor({1.0, 10.0, 0.01, 5.0}, at::kDouble));
  DrsProjector p = make_projector(c, 0.99);
  EXPECT_EQ(p.kept, 3);
  // V_3 spans e1, e3 (indices 1, 3) and e0: P = diag(1, 1, 0, 1) / sqrt(3)
  at::Tensor expect = at::diag(at::tensor({1.0, 1.0, 0.0, 1.0}, at::kFloat)) / std::sqrt(3.0f);
  EXPECT_LT((p.p - expect).abs().max().item<double>(), 1e-6);
  EXPECT_NEAR(p.p.norm().item<double>(), 1.0, 1e-6);  // ||V_k V_k^T / sqrt(k)||_F = 1
}

TEST(DrsProjector, RotatedCovariance) {
  // C = R diag(8, 4, 0.02, 0.01) R^T with an orthogonal R; top-2 energy 12/12.03 > .99
  at::Tensor r = std::get<0>(at::linalg_qr(at::randn({4, 4}, at::kDouble)));
  at::Tensor c = at::matmul(at::matmul(r, at::diag(at::tensor({8.0, 4.0, 0.02, 0.01}, at::kDouble))), r.t());
  DrsProjector p = make_projector(c, 0.99);
  ASSERT_EQ(p.kept, 2);
  at::Tensor vk = r.narrow(1, 0, 2);
  at::Tensor expect = at::matmul(vk, vk.t()) / std::sqrt(2.0);
  EXPECT_LT((p.p.to(at::kDouble) - expect).abs().max().item<double>(), 1e-6);
}

TEST(DrsProjector, Float32InputGivesTheFloat64Projector) {
  // Any dtype and device in: the decomposition is the host's float64 one, P comes back
  // float32 on the input's device.
  at::Tensor c = at::diag(at::tensor({1.0, 10.0, 0.01, 5.0}, at::kDouble));
  DrsProjector a = make_projector(c, 0.99), b = make_projector(c.to(at::kFloat).t(), 0.99);
  EXPECT_EQ(b.kept, a.kept);
  EXPECT_EQ(b.p.device(), c.device());
  EXPECT_EQ(b.p.scalar_type(), at::kFloat);
  // The float32 rounding of 0.01 moves no eigenvector of a diagonal C: P agrees to
  // float32 rounding of its entries (~6e-8 at 1/sqrt(3)).
  EXPECT_LT((a.p - b.p).norm().item<double>(), 1e-6);
}

TEST(Covariance, SumsOuterProductsOverAllTokens) {
  at::Tensor z = at::tensor({1.0f, 2.0f, 0.0f, 1.0f, 3.0f, -1.0f}).reshape({1, 3, 2});  // B=1,T=3,d=2
  CovarianceAccumulator acc(2, 2);
  acc.add(1, z);
  acc.add(1, z);
  EXPECT_EQ(acc.count(1), 6);
  EXPECT_EQ(acc.count(0), 0);
  // z^T z = [[1+0+9, 2+0-3], [2+0-3, 4+1+1]] = [[10, -1], [-1, 6]], twice, / 6 tokens
  at::Tensor expect = at::tensor({20.0, -2.0, -2.0, 12.0}, at::kDouble).reshape({2, 2}) / 6.0;
  EXPECT_LT((acc.covariance(1) - expect).abs().max().item<double>(), 1e-12);
  EXPECT_EQ(acc.sum(1).scalar_type(), at::kDouble);
  EXPECT_THROW(acc.covariance(0), std::runtime_error);
}

}  // namespace
}  // namespace lorasub::method
