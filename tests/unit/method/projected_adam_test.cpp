// Projected Adam against the formula, step by step, in float64 by hand.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

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

TEST(ProjectedAdam, FlatUpdateIsBitIdenticalToPerParameter) {
  // The same parameters and gradients through both paths: the flat one keeps its
  // gradients in one buffer (as GradSync does) and its moments flat.
  for (StepRule rule : {StepRule::kReferenceAdam, StepRule::kTorchAdam, StepRule::kSgdMomentum}) {
    at::manual_seed(3);
    const at::Tensor proj = at::randn({5, 5});
    const std::vector<std::vector<int64_t>> shapes = {{2, 5}, {5, 2}, {3}, {4, 5}};
    const std::vector<ProjectSide> sides = {ProjectSide::kRight, ProjectSide::kLeft, ProjectSide::kNone,
                                            ProjectSide::kRight};
    std::vector<at::Tensor> per, flat;
    int64_t total = 0;
    for (const auto& sh : shapes) {
      const at::Tensor init = at::randn(sh);
      per.push_back(init.clone().requires_grad_(true));
      flat.push_back(init.clone().requires_grad_(true));
      total += init.numel();
    }
    at::Tensor buffer = at::zeros({total + 3});  // + control slots, as in GradSync
    ProjectedAdam a(0.9, 0.999, 1e-8, rule), b(0.9, 0.999, 1e-8, rule);
    int64_t off = 0;
    for (size_t i = 0; i < per.size(); ++i) {
      a.add(per[i], static_cast<int>(i % 2), sides[i], sides[i] == ProjectSide::kNone ? at::Tensor() : proj);
      b.add(flat[i], static_cast<int>(i % 2), sides[i], sides[i] == ProjectSide::kNone ? at::Tensor() : proj);
      flat[i].mutable_grad() = buffer.narrow(0, off, flat[i].numel()).view(flat[i].sizes());
      off += flat[i].numel();
    }
    b.use_flat_gradients(buffer.narrow(0, 0, total));
    for (int step = 0; step < 4; ++step) {
      for (size_t i = 0; i < per.size(); ++i) {
        const at::Tensor g = at::randn(per[i].sizes()) * (step + 1.0);
        per[i].mutable_grad() = g.clone();
        flat[i].mutable_grad().copy_(g);
      }
      a.step({1e-2, 3e-3});
      b.step({1e-2, 3e-3});
      for (size_t i = 0; i < per.size(); ++i) {
        EXPECT_TRUE(per[i].equal(flat[i])) << "rule " << static_cast<int>(rule) << " step " << step << " param " << i;
        EXPECT_TRUE(a.params()[i].m.equal(b.params()[i].m));
        EXPECT_TRUE(a.params()[i].v.equal(b.params()[i].v));
      }
    }
  }
}

TEST(ProjectedAdam, FlatModeRefusesGradientsOutsideTheBuffer) {
  at::Tensor p = at::zeros({3}).requires_grad_(true);
  ProjectedAdam opt;
  opt.add(p, 0);
  p.mutable_grad() = at::zeros({3});  // its own memory, not the buffer's
  EXPECT_THROW(opt.use_flat_gradients(at::zeros({3})), std::invalid_argument);
}

}  // namespace
}  // namespace lorasub::method
