// Classic Adam (betas 0.9/0.999, eps added to sqrt(v) before bias correction, no
// weight decay) whose step, not gradient, is projected onto the drift-resistant space
// [ref]: u = -lr * sqrt(1 - b2^s) / (1 - b1^s) * m / (sqrt(v) + eps); for an A (r x d)
// u <- u P, for a B (d x r) u <- P u. Moments always see the raw gradient.
// The other methods' update rules run through the same class (no projection there):
// kTorchAdam, torch's Adam (InfLoRA): u = -lr / (1 - b1^s) * m / (sqrt(v) / sqrt(1 - b2^s)
// + eps); kSgdMomentum, torch's SGD (SD-LoRA): m = b1 m + g (m = g at the first step),
// u = -lr m; v stays 0.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace lorasub::method {

enum class ProjectSide { kNone, kRight /* A: u P */, kLeft /* B: P u */ };
enum class StepRule { kReferenceAdam, kTorchAdam, kSgdMomentum };

struct AdamParam {
  at::Tensor param;
  int group = 0;  // index into the lrs passed to step()
  ProjectSide side = ProjectSide::kNone;
  at::Tensor projector;  // d x d, used when side != kNone
  at::Tensor m, v;       // moments (zeros at start)
};

class ProjectedAdam {
 public:
  ProjectedAdam(double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, StepRule rule = StepRule::kReferenceAdam)
      : b1_(beta1), b2_(beta2), eps_(eps), rule_(rule) {}
  void add(at::Tensor param, int group, ProjectSide side = ProjectSide::kNone, at::Tensor projector = {});
  // Flat mode, after every add(): the parameters' gradients are consecutive views of
  // `grads` in add() order (GradSync's buffer without its control slots). The moments
  // become views of two flat tensors laid out the same way, and step() updates them and
  // forms the step direction with one chain of elementwise ops over the whole buffer;
  // only the rate, the projection and the update stay per parameter. Every element sees
  // the same operations in the same order as in the per-parameter path: bit-identical.
  void use_flat_gradients(const at::Tensor& grads);
  // One step using each param's current .grad(); lrs[group] is that group's rate.
  void step(const std::vector<double>& lrs);
  int64_t steps() const { return step_; }
  void set_steps(int64_t s) { step_ = s; }
  std::vector<AdamParam>& params() { return params_; }
  const std::vector<AdamParam>& params() const { return params_; }

 private:
  double b1_, b2_, eps_;
  StepRule rule_;
  int64_t step_ = 0;
  std::vector<AdamParam> params_;
  at::Tensor flat_g_, flat_m_, flat_v_;  // flat mode (undefined otherwise)
  std::vector<int64_t> offsets_;         // flat mode: each parameter's offset

  void step_flat(const std::vector<double>& lrs);
  void apply(AdamParam& p, at::Tensor u) const;  // projects u and adds it to the parameter
};

}  // namespace lorasub::method
