// InfLoRA's learner: A_t from the covariance of the task's inputs under the current
// weights, orthogonal to the DualGPM memory and frozen; only B_t and the head move; the
// new delta leaves inputs in the memory's span unchanged.
//
// Tolerances: A is rounded to fp32 (u = 6e-8 per entry), so A M, a sum of d = 12 such
// products of unit-size entries, is about sqrt(12) u = 2e-7 per entry; 1e-6 of the norms
// covers it, while an A designed without removing the memory gives A M of order 1.
#include "lorasub/method/inflora_learner.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lorasub/method/covariance.h"
#include "unit/method/method_test_util.h"

namespace lorasub::method {
namespace {

using test::batch_of;
using test::images_of;
using test::source_of;
using test::tiny;

Config inflora_config() {
  Config cfg;
  cfg.method.name = "inflora";
  cfg.method.rank = 2;
  cfg.train.init_epochs = cfg.train.epochs = 2;
  cfg.train.init_lr = cfg.train.lrate = 1e-2;
  cfg.inflora.lamb = 0.9;
  cfg.run.seed = 4;
  return cfg;
}

class InfloraLearnerTest : public ::testing::Test {
 protected:
  std::vector<data::Batch> task_batches(int64_t t) const {
    const int64_t c = 3 * t;
    return {batch_of({c, c + 1, c + 2, c + 1}, 10 + t), batch_of({c + 2, c, c + 1}, 20 + t)};
  }
  void train(int64_t steps, int64_t t) {
    learner.begin_epoch(0);
    for (int64_t s = 0; s < steps; ++s) {
      const data::Batch b = task_batches(t)[static_cast<size_t>(s % 2)];
      learner.train_step(b, b.n, false);
    }
  }
  // C = sum z z^T / count over the LN1 outputs of `batches` under the qkv weights `w`.
  std::vector<at::Tensor> covariance_under(const std::vector<at::Tensor>& w, const std::vector<data::Batch>& batches) {
    at::NoGradGuard ng;
    CovarianceAccumulator acc(tiny().depth, tiny().dim);
    model::ForwardOptions o;
    o.qkv_weights = &w;
    o.on_ln1 = [&acc](int64_t block, const at::Tensor& z) { acc.add(block, z); };
    for (const auto& b : batches) vit.features(images_of(b), o);
    std::vector<at::Tensor> out;
    for (int64_t i = 0; i < tiny().depth; ++i) out.push_back(acc.covariance(i));
    return out;
  }
  const Config cfg = inflora_config();
  const data::TaskPlan plan = data::TaskPlan::make(6, 3, 3, 2, false, 1);
  model::Vit vit = model::Vit::random(tiny(), 9);
  dist::LocalCommunicator comm;
  InfloraLearner learner{vit, cfg, plan, comm};
};

TEST_F(InfloraLearnerTest, DesignsFreezesAndRemovesTheMemory) {
  learner.begin_task(0, source_of(task_batches(0)));
  const model::KvAdapter a0 = learner.bank().task(0).blocks[0];
  EXPECT_EQ(at::equal(a0.a_k, a0.a_v), true);         // A_k = A_v
  EXPECT_EQ(a0.b_k.abs().max().item<float>(), 0.0f);  // B starts at 0
  EXPECT_NEAR(a0.a_k[0].norm().item<double>(), 1.0 / std::sqrt(3.0), 1e-6);
  // 2 per block (B_k, B_v) + head weight and bias.
  EXPECT_EQ(learner.trained_parameters().size(), 2u * 2 + 2);
  const at::Tensor a0_before = a0.a_k.clone();
  train(3, 0);
  EXPECT_TRUE(at::equal(learner.bank().task(0).blocks[0].a_k, a0_before));  // frozen
  EXPECT_GT(learner.bank().task(0).blocks[0].b_k.abs().max().item<float>(), 0.0f);
  learner.end_training(source_of(task_batches(0)));
  const std::vector<GpmMemory> memory = learner.memory();
  ASSERT_EQ(memory.size(), 2u);
  for (const GpmMemory& m : memory) ASSERT_GE(m.columns(), 1);

  // Task 1: A_1 from the covariance under W0 + delta_0 (computed here from the folded
  // weights), with the memory removed.
  const std::vector<at::Tensor> c = covariance_under(learner.bank().folded_qkv(1, +1), task_batches(1));
  learner.begin_task(1, source_of(task_batches(1)));
  for (int64_t i = 0; i < 2; ++i) {
    const at::Tensor a1 = learner.bank().task(1).blocks[i].a_k.to(at::kDouble);
    const at::Tensor expect = design_down_projection(c[i], memory[i], 2).to(at::kDouble);
    EXPECT_LT((a1 - expect).norm().item<double>(), 1e-5) << "block " << i;
    ASSERT_EQ(memory[i].kind, GpmMemory::Kind::kRemove);
    EXPECT_LT(at::matmul(a1, memory[i].basis).norm().item<double>(), 1e-6) << "block " << i;
  }

  // One step: the old adapters and A_1 do not move, B_1 does, and B_1 A_1 maps the
  // memory's span to 0 (old-task inputs in that span see the same k and v).
  std::vector<at::Tensor> before;
  for (int64_t t = 0; t < 2; ++t)
    for (const auto& b : learner.bank().task(t).blocks)
      for (const at::Tensor* x : {&b.a_k, &b.b_k, &b.a_v, &b.b_v}) before.push_back(x->clone());
  train(1, 1);
  size_t k = 0;
  for (int64_t t = 0; t < 2; ++t)
    for (const auto& b : learner.bank().task(t).blocks)
      for (const at::Tensor* x : {&b.a_k, &b.b_k, &b.a_v, &b.b_v}) {
        const bool is_b1 = t == 1 && (x == &b.b_k || x == &b.b_v);
        EXPECT_EQ(at::equal(*x, before[k]), !is_b1) << "tensor " << k;
        ++k;
      }
  for (int64_t i = 0; i < 2; ++i) {
    const auto& b = learner.bank().task(1).blocks[i];
    const at::Tensor m = memory[i].basis;
    for (const at::Tensor* bb : {&b.b_k, &b.b_v}) {
      const at::Tensor delta = at::matmul(bb->detach().to(at::kDouble), b.a_k.detach().to(at::kDouble));
      EXPECT_LT(at::matmul(delta, m).norm().item<double>(), 1e-6 * bb->norm().item<double>()) << "block " << i;
    }
  }
}

TEST_F(InfloraLearnerTest, StateRoundTripsTheMemory) {
  learner.begin_task(0, source_of(task_batches(0)));
  train(2, 0);
  learner.end_training(source_of(task_batches(0)));
  const LearnerState s = learner.state();
  ASSERT_EQ(s.method.count("gpm_kind"), 1u);
  InfloraLearner other{vit, cfg, plan, comm};
  other.restore(s);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(other.memory()[i].kind, learner.memory()[i].kind);
    EXPECT_TRUE(at::equal(other.memory()[i].basis, learner.memory()[i].basis));
  }
  // The restored learner designs the same A_1.
  learner.begin_task(1, source_of(task_batches(1)));
  other.begin_task(1, source_of(task_batches(1)));
  EXPECT_TRUE(at::equal(other.bank().task(1).blocks[1].a_v, learner.bank().task(1).blocks[1].a_v));
}

}  // namespace
}  // namespace lorasub::method
