// InfLoRA (Liang & Li, CVPR 2024), as liangyanshuo/InfLoRA e08b00e runs it (docs/method.md):
// LoRA on k and v whose down-projection A_t is designed before the task from the task's
// input covariance with the DualGPM memory's space removed, then frozen; only B_t (from 0)
// and the task's head train, with torch's Adam at one rate. After the task a second
// covariance pass through the trained model updates the memory. Prediction: the argmax
// over all seen heads.
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

#include "lorasub/method/dual_gpm.h"
#include "lorasub/method/learner.h"

namespace lorasub::method {

class InfloraLearner final : public Learner {
 public:
  InfloraLearner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan, dist::Communicator& comm);
  bool predicts_with_heads() const override { return true; }
  // Per block: the memory after the last finished task.
  const std::vector<GpmMemory>& memory() const { return memory_; }

 protected:
  void add_adapters() override;  // A is designed in prepare_task; B = 0
  void prepare_task(const BatchSource& train_batches) override;
  std::vector<at::Tensor> add_parameters(ProjectedAdam& opt) override;  // B_k, B_v, head: one group
  StepRule step_rule() const override { return StepRule::kTorchAdam; }
  std::vector<double> epoch_rates(int64_t epoch) const override;
  void after_training(const BatchSource& train_batches) override;
  void save_method_state(LearnerState& s) const override;
  void restore_method_state(const LearnerState& s) override;

 private:
  // Per block: the uncentred covariance of the LN1 output over every token of `batches`
  // under `view` (float64, all-reduced).
  std::vector<at::Tensor> covariances(const BatchSource& batches, model::ForwardOptions view);
  void freeze_down_projections();
  std::vector<GpmMemory> memory_;
};

}  // namespace lorasub::method
