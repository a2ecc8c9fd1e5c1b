// SD-LoRA's learner against a float64 reference of its forward: the magnitudes'
// gradient by autograd equals central finite differences, the learner's first SGD step
// moves the magnitudes by -lr times that gradient, the earlier adapters stay frozen, and
// the evaluation weights are W0 + sum alpha_j B_j A_j / (||B_j|| ||A_j||) + alpha_t B_t A_t
// on the q and v rows.
//
// Tolerances. In float64 a central difference with h = 1e-6 is off by h^2 |L'''| (~1e-12)
// plus the rounding 1e-16 |L| / h (~1e-10): 1e-7 absolute is far above both. The learner
// runs in fp32, so its gradient differs from the float64 one by the rounding of a few
// hundred fp32 operations (u = 6e-8 each): 1e-4 of the step's norm, as in learner_test.
#include "lorasub/method/sdlora_learner.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "unit/method/method_test_util.h"

namespace lorasub::method {
namespace {

using test::batch_of;
using test::images_of;
using test::rel_diff;
using test::source_of;
using test::tiny;

Config sdlora_config() {
  Config cfg;
  cfg.method.name = "sd-lora";
  cfg.method.rank = 2;
  cfg.train.init_epochs = cfg.train.epochs = 2;
  cfg.train.init_lr = 5e-2;
  cfg.train.lrate = 2e-2;
  cfg.run.seed = 6;
  return cfg;
}

at::Tensor f64(const at::Tensor& t) { return t.detach().to(at::kDouble); }

class SdLoraLearnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    learner.begin_task(0, source_of({}));
    learner.begin_epoch(0);
    for (int s = 0; s < 3; ++s) learner.train_step(task0, task0.n, false);
    learner.end_training(source_of({}));
    learner.begin_task(1, source_of({}));
    learner.begin_epoch(0);
    vit64.to(at::kDouble);
  }
  // The mean CE of task 1's head on `batch` through the float64 copy of the learner's
  // forward, as a function of the magnitudes (alpha_0, alpha_1).
  at::Tensor loss64(const at::Tensor& alpha, const data::Batch& batch) const {
    std::vector<model::StackedAdapter> stacked;
    std::vector<model::KvAdapter> current;
    at::Tensor inv = at::zeros({2, 2, 1}, at::kDouble);
    for (int64_t i = 0; i < 2; ++i) {
      const model::KvAdapter& o = learner.bank().task(0).blocks[i];
      const model::KvAdapter& c = learner.bank().task(1).blocks[i];
      stacked.push_back({f64(o.a_k), f64(o.b_k), f64(o.a_v), f64(o.b_v), {}, {}});
      inv[i][0][0] = 1.0 / (f64(o.b_k).norm() * f64(o.a_k).norm()).item<double>();
      inv[i][1][0] = 1.0 / (f64(o.b_v).norm() * f64(o.a_v).norm()).item<double>();
      current.push_back({f64(c.a_k), f64(c.b_k), f64(c.a_v), f64(c.b_v)});
    }
    scale_directions(stacked, alpha.narrow(0, 0, 1), inv, 2);
    model::ForwardOptions o;
    o.adapt_query = true;
    o.adapters = &current;
    o.adapter_scale = alpha.narrow(0, 1, 1);
    o.stacked = &stacked;
    const at::Tensor feats = vit64.features(images_of(batch).to(at::kDouble), o);
    const Head& h = learner.heads().back();
    const at::Tensor labels = at::tensor(batch.labels, at::kLong) - 3;
    return at::cross_entropy_loss(at::linear(feats, f64(h.weight), f64(h.bias)), labels);
  }
  const Config cfg = sdlora_config();
  const data::TaskPlan plan = data::TaskPlan::make(6, 3, 3, 2, false, 1);
  model::Vit vit = model::Vit::random(tiny(), 9);
  model::Vit vit64 = vit;
  dist::LocalCommunicator comm;
  SdLoraLearner learner{vit, cfg, plan, comm};
  const data::Batch task0 = batch_of({0, 1, 2, 1, 0}, 3);
  const data::Batch task1 = batch_of({3, 5, 4, 4, 3, 5}, 4);
};

TEST_F(SdLoraLearnerTest, MagnitudeGradientsMatchFiniteDifferencesAndTheStep) {
  ASSERT_EQ(learner.magnitudes().numel(), 2);
  EXPECT_EQ(learner.magnitudes()[0].item<float>(), 0.8f);  // reset when the task begins
  // The current adapter starts at B = 0, so give it a value for alpha_1 to act on.
  {
    at::NoGradGuard ng;
    for (const at::Tensor& p : learner.bank().current_parameters()) p.add_(at::randn_like(p) * 0.1);
  }
  const at::Tensor alpha = at::tensor(std::vector<double>{0.8, 0.8}, at::kDouble).requires_grad_(true);
  loss64(alpha, task1).backward();
  const at::Tensor g = alpha.grad().clone();
  ASSERT_GT(g.abs().min().item<double>(), 1e-6);  // both magnitudes matter
  const double h = 1e-6;
  for (int64_t j = 0; j < 2; ++j) {
    at::NoGradGuard ng;
    at::Tensor up = alpha.detach().clone(), down = alpha.detach().clone();
    up[j] += h;
    down[j] -= h;
    const double fd = (loss64(up, task1).item<double>() - loss64(down, task1).item<double>()) / (2 * h);
    EXPECT_NEAR(fd, g[j].item<double>(), 1e-7) << "magnitude " << j;
  }

  std::vector<at::Tensor> old;
  for (const auto& b : learner.bank().task(0).blocks)
    for (const at::Tensor* x : {&b.a_k, &b.b_k, &b.a_v, &b.b_v}) old.push_back(x->clone());
  const at::Tensor before = learner.magnitudes().detach().clone();
  learner.train_step(task1, task1.n, false);
  const at::Tensor step = learner.magnitudes().detach() - before;
  EXPECT_LT(rel_diff(step, -cfg.train.lrate * g), 1e-4);  // SGD's first step: -lr g
  size_t k = 0;
  for (const auto& b : learner.bank().task(0).blocks)
    for (const at::Tensor* x : {&b.a_k, &b.b_k, &b.a_v, &b.b_v}) EXPECT_TRUE(at::equal(*x, old[k++]));
}

TEST_F(SdLoraLearnerTest, EvaluationWeightsFoldTheNormalisedDirections) {
  learner.train_step(task1, task1.n, false);
  learner.end_training(source_of({}));
  const std::vector<at::Tensor> w = learner.evaluation_qkv();
  const at::Tensor alpha = f64(learner.magnitudes());
  const int64_t d = tiny().dim;
  for (int64_t i = 0; i < 2; ++i) {
    const model::KvAdapter& o = learner.bank().task(0).blocks[i];
    const model::KvAdapter& c = learner.bank().task(1).blocks[i];
    const at::Tensor w0 = f64(vit.blocks()[i].qkv_w);
    const at::Tensor dq = alpha[0] * at::matmul(f64(o.b_k), f64(o.a_k)) / (f64(o.b_k).norm() * f64(o.a_k).norm()) +
                          alpha[1] * at::matmul(f64(c.b_k), f64(c.a_k));
    const at::Tensor dv = alpha[0] * at::matmul(f64(o.b_v), f64(o.a_v)) / (f64(o.b_v).norm() * f64(o.a_v).norm()) +
                          alpha[1] * at::matmul(f64(c.b_v), f64(c.a_v));
    EXPECT_LT((f64(w[i]).narrow(0, 0, d) - (w0.narrow(0, 0, d) + dq)).abs().max().item<double>(), 1e-6);
    EXPECT_TRUE(at::equal(w[i].narrow(0, d, d), vit.blocks()[i].qkv_w.narrow(0, d, d)));  // k untouched
    EXPECT_LT((f64(w[i]).narrow(0, 2 * d, d) - (w0.narrow(0, 2 * d, d) + dv)).abs().max().item<double>(), 1e-6);
  }
}

TEST_F(SdLoraLearnerTest, StateRestoresTheMagnitudes) {
  learner.train_step(task1, task1.n, false);
  const LearnerState s = learner.state();
  SdLoraLearner other{vit, cfg, plan, comm};
  other.restore(s);
  EXPECT_TRUE(at::equal(other.magnitudes(), learner.magnitudes()));
  other.begin_epoch(0);
  learner.train_step(task1, task1.n, false);
  other.train_step(task1, task1.n, false);
  EXPECT_TRUE(at::equal(other.magnitudes(), learner.magnitudes()));  // the next step is the same
}

}  // namespace
}  // namespace lorasub::method
