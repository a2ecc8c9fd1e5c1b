// One Learner::train_step against an expectation built by hand, independently of the
// learner's GradSync and ProjectedAdam: the CE from the features in float64, the head's
// gradient in closed form, the adapters' gradient by autograd through the same backbone
// with adapters of the test's own, and Adam's first step by its formula.
//
// Tolerances. The learner works in fp32; the reference recomputes in float64 from the
// same fp32 features, or (adapters) differentiates the same fp32 graph, so a gradient
// differs by the rounding of a few hundred fp32 operations: about 1e-6 of its norm
// (u = 6e-8 per operation). A parameter's step is read as after - before, which also
// carries the rounding of param + step: |param| u / |step|, about 2e-5 here (|param|
// near 0.3, steps near 1e-3). 1e-4 of the norm covers both with a margin, and is far
// below what a wrong step makes: a 0.1 % wrong learning rate already gives 1e-3, a wrong
// loss scale, sign or missing term of order 1.
#include "lorasub/method/learner.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lorasub/method/schedule.h"
#include "unit/method/method_test_util.h"

namespace lorasub::method {
namespace {

using test::batch_of;
using test::images_of;
using test::rel_diff;
using test::tiny;

constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;  // ProjectedAdam's defaults

Config seq_lora_config() {
  Config cfg;
  cfg.method.name = "seq-lora";
  cfg.method.rank = 2;
  cfg.train.epochs = 3;
  cfg.train.init_lr = 1e-3;
  cfg.train.fc_lrate = 2e-3;
  cfg.run.seed = 5;
  return cfg;
}

// Adam's first step from moments m = (1 - b1) g, v = (1 - b2) g^2.
at::Tensor first_adam_step(const at::Tensor& g, double lr) {
  const at::Tensor gd = g.to(at::kDouble);
  const at::Tensor m = gd * (1.0 - kBeta1), v = gd * gd * (1.0 - kBeta2);
  return m / (v.sqrt() + kEps) * (-lr * std::sqrt(1.0 - kBeta2) / (1.0 - kBeta1));
}

struct Before {
  at::Tensor features, weight, bias;
  std::vector<at::Tensor> adapters;  // block-major A_k, B_k, A_v, B_v
};

// The adapters' gradient of the mean CE, by autograd through the backbone with leaf
// copies of the adapters and the head as it was before the step.
std::vector<at::Tensor> adapter_gradients(const model::Vit& vit, const Before& before, const at::Tensor& images,
                                          const at::Tensor& labels) {
  std::vector<at::Tensor> leaves;
  std::vector<model::KvAdapter> adapters;
  for (size_t i = 0; i < before.adapters.size(); i += 4) {
    for (size_t j = 0; j < 4; ++j) leaves.push_back(before.adapters[i + j].clone().requires_grad_(true));
    adapters.push_back({leaves[i], leaves[i + 1], leaves[i + 2], leaves[i + 3]});
  }
  model::ForwardOptions view;
  view.adapters = &adapters;
  const at::Tensor logits = at::linear(vit.features(images, view), before.weight, before.bias);
  at::cross_entropy_loss(logits, labels).backward();  // mean over the batch
  std::vector<at::Tensor> grads;
  for (const at::Tensor& l : leaves) grads.push_back(l.grad());
  return grads;
}

// A seq-LoRA learner on one rank, in task 0 (2 tasks of 3 classes).
class LearnerStep : public ::testing::Test {
 protected:
  void SetUp() override {
    learner = make_learner(vit, cfg, plan, comm);
    learner->begin_task(0, [] { return std::optional<data::Batch>(); });
  }
  const Config cfg = seq_lora_config();
  const data::TaskPlan plan = data::TaskPlan::make(6, 3, 3, 2, false, 1);
  model::Vit vit = model::Vit::random(tiny(), 9);
  dist::LocalCommunicator comm;
  std::unique_ptr<Learner> learner;
};

TEST_F(LearnerStep, OneTrainStepMatchesAHandBuiltStep) {
  const int64_t epoch = 2;
  learner->begin_epoch(epoch);
  const double lr_adapters = cfg.train.init_lr * lr_multiplier(epoch, cfg.train.epochs);
  const double lr_head = cfg.train.fc_lrate * lr_multiplier(epoch, cfg.train.epochs);
  ASSERT_LT(lr_multiplier(epoch, cfg.train.epochs), 1.0);  // the schedule is in play

  const data::Batch batch = batch_of({0, 2, 1, 2, 0}, 3);
  const at::Tensor images = images_of(batch);
  const at::Tensor labels = at::tensor(std::vector<int64_t>{0, 2, 1, 2, 0}, at::kLong);
  Before before;
  {
    at::NoGradGuard no_grad;
    before.features = vit.features(images, learner->bank().training_view());
  }
  before.weight = learner->heads().back().weight.detach().clone();
  before.bias = learner->heads().back().bias.detach().clone();
  for (const at::Tensor& p : learner->bank().current_parameters()) before.adapters.push_back(p.detach().clone());
  ASSERT_EQ(before.adapters.size(), 8u);  // 2 blocks x (A_k, B_k, A_v, B_v)

  const StepResult r = learner->train_step(batch, batch.n, /*stop_request=*/false);

  // CE by hand in float64: mean of logsumexp(z) - z_label.
  const at::Tensor z =
      at::linear(before.features.to(at::kDouble), before.weight.to(at::kDouble), before.bias.to(at::kDouble));
  const at::Tensor p = at::softmax(z, 1);
  const at::Tensor y = at::one_hot(labels, 3).to(at::kDouble);
  const double ce = (at::logsumexp(z, 1) - (z * y).sum(1)).mean().item<double>();
  EXPECT_NEAR(r.ce, ce, 1e-5 * ce);
  EXPECT_EQ(r.atl, 0.0);  // seq-LoRA has no ATL
  EXPECT_EQ(r.loss, r.ce);
  EXPECT_FALSE(r.stop);

  // Head: dCE/dW = (P - Y)^T F / n, dCE/db = sum(P - Y) / n; then Adam's first step.
  const at::Tensor g_w = at::matmul((p - y).t(), before.features.to(at::kDouble)) / 5.0;
  const at::Tensor g_b = (p - y).sum(0) / 5.0;
  const LearnerState s = learner->state();
  ASSERT_EQ(s.adam_steps, 1);
  ASSERT_EQ(s.adam_m.size(), 10u);  // the adapters, then head weight and bias
  EXPECT_LT(rel_diff(s.adam_m[8] / (1.0 - kBeta1), g_w), 1e-4);
  EXPECT_LT(rel_diff(s.adam_m[9] / (1.0 - kBeta1), g_b), 1e-4);
  const at::Tensor w_after = learner->heads().back().weight.detach();
  EXPECT_LT(rel_diff(w_after - before.weight, first_adam_step(g_w, lr_head)), 1e-4);
  EXPECT_LT(rel_diff(learner->heads().back().bias.detach() - before.bias, first_adam_step(g_b, lr_head)), 1e-4);

  // Adapters: the gradient by autograd, the step by the formula, at the adapters' rate.
  const std::vector<at::Tensor> g = adapter_gradients(vit, before, images, labels);
  const std::vector<at::Tensor> after = learner->bank().current_parameters();
  for (size_t i = 0; i < g.size(); ++i) {
    SCOPED_TRACE("adapter tensor " + std::to_string(i));
    ASSERT_GT(g[i].norm().item<double>(), 0.0);
    EXPECT_LT(rel_diff(s.adam_m[i] / (1.0 - kBeta1), g[i]), 1e-4);
    EXPECT_LT(rel_diff(s.adam_v[i] / (1.0 - kBeta2), g[i] * g[i]), 1e-4);
    // The step from the learner's own moments (the gradient above proved them), so that
    // no entry with |g| near eps can tip the comparison.
    const at::Tensor m = s.adam_m[i].to(at::kDouble), v = s.adam_v[i].to(at::kDouble);
    const at::Tensor u = m / (v.sqrt() + kEps) * (-lr_adapters * std::sqrt(1.0 - kBeta2) / (1.0 - kBeta1));
    EXPECT_LT(rel_diff(after[i].detach() - before.adapters[i], u), 1e-4);
  }
}

TEST_F(LearnerStep, AStopRequestReachesTheStepResultAndTheStepIsStillTaken) {
  learner->begin_epoch(0);
  const at::Tensor w = learner->heads().back().weight.detach().clone();
  const StepResult r = learner->train_step(batch_of({1, 0}, 4), 2, /*stop_request=*/true);
  EXPECT_TRUE(r.stop);
  EXPECT_EQ(learner->state().adam_steps, 1);
  EXPECT_FALSE(learner->heads().back().weight.detach().equal(w));
}

}  // namespace
}  // namespace lorasub::method
