#include "lorasub/method/projected_adam.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <stdexcept>

namespace lorasub::method {

void ProjectedAdam::add(at::Tensor param, int group, ProjectSide side, at::Tensor projector) {
  if (side != ProjectSide::kNone && !projector.defined())
    throw std::invalid_argument("ProjectedAdam: a projected parameter needs a projector");
  AdamParam p;
  p.param = param;
  p.group = group;
  p.side = side;
  p.projector = projector;
  p.m = at::zeros_like(param.detach());
  p.v = at::zeros_like(param.detach());
  params_.push_back(std::move(p));
}

void ProjectedAdam::step(const std::vector<double>& lrs) {
  at::NoGradGuard no_grad;
  ++step_;
  const double s = static_cast<double>(step_);
  const double bc1 = 1.0 - std::pow(b1_, s), bc2 = 1.0 - std::pow(b2_, s);
  for (AdamParam& p : params_) {
    at::Tensor g = p.param.grad();
    if (!g.defined()) continue;
    const double lr = lrs.at(p.group);
    at::Tensor u;
    if (rule_ == StepRule::kSgdMomentum) {
      if (step_ == 1)
        p.m.copy_(g);
      else
        p.m.mul_(b1_).add_(g);
      u = p.m * (-lr);
    } else {
      p.m.mul_(b1_).add_(g, 1.0 - b1_);
      p.v.mul_(b2_).addcmul_(g, g, 1.0 - b2_);
      if (rule_ == StepRule::kTorchAdam)
        u = p.m / (p.v.sqrt() / std::sqrt(bc2) + eps_) * (-lr / bc1);
      else
        u = p.m / (p.v.sqrt() + eps_) * (-lr * std::sqrt(bc2) / bc1);
    }
    if (p.side == ProjectSide::kRight)
      u = at::matmul(u, p.projector);
    else if (p.side == ProjectSide::kLeft)
      u = at::matmul(p.projector, u);
    p.param.add_(u);
  }
}

}  // namespace lorasub::method
