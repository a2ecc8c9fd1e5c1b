// Projected Adam against the formula, step by step, in float64 by hand.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "lorasub/method/projected_adam.h"

namespace lorasub::method {
namespace {

TEST(ProjectedAdam, StepMatchesFormulaForAAndB) {
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  at::Tensor proj = at::tensor({1.0f, 0.5f, 0.0f, 0.5f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f}).reshape({3, 3});
  at::Tensor a = at::tensor({0.1f, -0.2f, 0.3f, 0.0f, 0.5f, -0.5f}).reshape({2, 3}).requires_grad_(true);
  at::Tensor b = at::tensor({0.1f, -0.2f, 0.3f, 0.0f, 0.5f, -0.5f}).reshape({3, 2}).requires_grad_(true);
  at::Tensor h = at::tensor({1.0f, 2.0f}).requires_grad_(true);
  ProjectedAdam opt(b1, b2, eps);
  opt.add(a, 0, ProjectSide::kRight, proj);
  opt.add(b, 0, ProjectSide::kLeft, proj);
  opt.add(h, 1);
  at::Tensor ea = a.detach().to(at::kDouble), eb = b.detach().to(at::kDouble), eh = h.detach().to(at::kDouble);
  at::Tensor ma = at::zeros_like(ea), va = at::zeros_like(ea), mb = at::zeros_like(eb), vb = at::zeros_like(eb);
  at::Tensor mh = at::zeros_like(eh), vh = at::zeros_like(eh);
  at::Tensor P = proj.to(at::kDouble);
  for (int s = 1; s <= 3; ++s) {
    at::Tensor ga = at::full({2, 3}, 0.1 * s, at::kFloat) + at::arange(6, at::kFloat).reshape({2, 3}) * 0.01f;
    at::Tensor gb = ga.t().contiguous() * -1.0f;
    at::Tensor gh = at::tensor({0.3f * s, -0.7f});
    a.mutable_grad() = ga.clone();
    b.mutable_grad() = gb.clone();
    h.mutable_grad() = gh.clone();
    opt.step({lr, 0.1});
    const double c = std::sqrt(1 - std::pow(b2, s)) / (1 - std::pow(b1, s));
    auto update = [&](at::Tensor& m, at::Tensor& v, const at::Tensor& g, double rate) {
      m = b1 * m + (1 - b1) * g.to(at::kDouble);
      v = b2 * v + (1 - b2) * g.to(at::kDouble).pow(2);
      return -rate * c * m / (v.sqrt() + eps);
    };
    ea = ea + at::matmul(update(ma, va, ga, lr), P);  // A: u P
    eb = eb + at::matmul(P, update(mb, vb, gb, lr));  // B: P u
    eh = eh + update(mh, vh, gh, 0.1);                // heads: never projected
    EXPECT_LT((a.detach().to(at::kDouble) - ea).abs().max().item<double>(), 1e-6) << "step " << s;
    EXPECT_LT((b.detach().to(at::kDouble) - eb).abs().max().item<double>(), 1e-6) << "step " << s;
    EXPECT_LT((h.detach().to(at::kDouble) - eh).abs().max().item<double>(), 1e-6) << "step " << s;
  }
  EXPECT_EQ(opt.steps(), 3);
  // The projector zeroes the third input direction: A's third column never moves.
  EXPECT_FLOAT_EQ(a[0][2].item<float>(), 0.3f);
}

}  // namespace
}  // namespace lorasub::method
