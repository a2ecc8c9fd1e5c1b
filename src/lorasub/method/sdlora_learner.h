// SD-LoRA (Wu et al., ICLR 2025), as WuYichen-97/SD-Lora-CL 8bacded runs it
// (docs/method.md): LoRA on q and v. In task t the q and v deltas are
//   sum_{j<t} alpha_j B_j A_j / (||B_j||_F ||A_j||_F) + alpha_t B_t A_t
// with the earlier A_j, B_j frozen and one learnable scalar magnitude per task, shared by
// every block and by q and v, all reset to 0.8 when a task begins. A_t, B_t (B_t from 0),
// the magnitudes and the task's head train with SGD (momentum 0.9) at a constant rate.
// Prediction: the argmax over all seen heads.
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

#include "lorasub/method/learner.h"

namespace lorasub::method {

// The scales of the stacked earlier directions in every block (depth = stacked.size()):
// scale_k / scale_v = magnitudes[j] * inv_norms[block][0 or 1][j], each repeated `rank`
// times (inv_norms: depth x 2 x t, 1 / (||B_j|| ||A_j||)). In the autograd graph of
// `magnitudes`.
void scale_directions(std::vector<model::StackedAdapter>& stacked, const at::Tensor& magnitudes,
                      const at::Tensor& inv_norms, int64_t rank);

class SdLoraLearner final : public Learner {
 public:
  SdLoraLearner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan, dist::Communicator& comm);
  bool predicts_with_heads() const override { return true; }
  // alpha_0..alpha_t of the current task (t + 1 values; alpha_t scales B_t A_t).
  const at::Tensor& magnitudes() const { return magnitudes_; }
  // depth x 2 x t: 1 / (||B_j||_F ||A_j||_F) per block and target (0 for a zero direction).
  const at::Tensor& inverse_norms() const { return inv_norms_; }
  static constexpr double kMagnitudeInit = 0.8;

 protected:
  void add_adapters() override;              // A ~ U(+-1/sqrt(d)), B = 0
  Head make_head(int64_t t) const override;  // U(+-sqrt(3/d)), bias 0
  void prepare_task(const BatchSource& train_batches) override;
  std::vector<at::Tensor> add_parameters(ProjectedAdam& opt) override;
  StepRule step_rule() const override { return StepRule::kSgdMomentum; }
  std::vector<double> epoch_rates(int64_t epoch) const override;
  model::ForwardOptions training_view() override;
  model::ForwardOptions eval_view() const override;
  void after_training(const BatchSource& train_batches) override;
  void save_method_state(LearnerState& s) const override;
  void restore_method_state(const LearnerState& s) override;

 private:
  // The earlier tasks' adapters stacked per block and their norms ||A_j|| ||B_j||.
  void stack_old_directions();
  void fold_evaluation_weights();
  at::Tensor magnitudes_;  // t + 1, float32, requires grad
  at::Tensor inv_norms_;   // depth x 2 x t: 1 / (||B_j|| ||A_j||), 0 for a zero direction
  std::vector<model::StackedAdapter> stacked_;
  std::vector<at::Tensor> eval_qkv_;  // after training: W0 + the task's deltas folded
};

}  // namespace lorasub::method
