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

void ProjectedAdam::use_flat_gradients(const at::Tensor& grads) {
  int64_t off = 0;
  offsets_.clear();
  for (const AdamParam& p : params_) {
    const at::Tensor g = p.param.grad();
    const int64_t n = p.param.numel();
    if (!g.defined() || g.data_ptr() == nullptr || g.numel() != n ||
        static_cast<const float*>(g.data_ptr()) != grads.data_ptr<float>() + off)
      throw std::invalid_argument("ProjectedAdam: the gradients are not consecutive views of the flat buffer");
    offsets_.push_back(off);
    off += n;
  }
  if (off != grads.numel()) throw std::invalid_argument("ProjectedAdam: the flat buffer is longer than the gradients");
  flat_g_ = grads;
  flat_m_ = at::zeros_like(grads);
  flat_v_ = at::zeros_like(grads);
  for (size_t i = 0; i < params_.size(); ++i) {
    AdamParam& p = params_[i];
    const int64_t n = p.param.numel();
    at::Tensor m = flat_m_.narrow(0, offsets_[i], n).view(p.param.sizes()),
               v = flat_v_.narrow(0, offsets_[i], n).view(p.param.sizes());
    m.copy_(p.m);
    v.copy_(p.v);
    p.m = m;
    p.v = v;
  }
}

void ProjectedAdam::apply(AdamParam& p, at::Tensor u) const {
  if (p.side == ProjectSide::kRight)
    u = at::matmul(u, p.projector);
  else if (p.side == ProjectSide::kLeft)
    u = at::matmul(p.projector, u);
  p.param.add_(u);
}

void ProjectedAdam::step_flat(const std::vector<double>& lrs) {
  const double s = static_cast<double>(step_);
  const double bc1 = 1.0 - std::pow(b1_, s), bc2 = 1.0 - std::pow(b2_, s);
  at::Tensor dir;  // the step before its rate: per element as the per-parameter path forms it
  if (rule_ == StepRule::kSgdMomentum) {
    if (step_ == 1)
      flat_m_.copy_(flat_g_);
    else
      flat_m_.mul_(b1_).add_(flat_g_);
    dir = flat_m_;
  } else {
    flat_m_.mul_(b1_).add_(flat_g_, 1.0 - b1_);
    flat_v_.mul_(b2_).addcmul_(flat_g_, flat_g_, 1.0 - b2_);
    if (rule_ == StepRule::kTorchAdam)
      dir = flat_m_ / (flat_v_.sqrt() / std::sqrt(bc2) + eps_);
    else
      dir = flat_m_ / (flat_v_.sqrt() + eps_);
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    AdamParam& p = params_[i];
    const double lr = lrs.at(p.group);
    // The rate exactly as step() writes it per parameter (the same double rounding).
    const double rate = rule_ == StepRule::kSgdMomentum ? -lr
                        : rule_ == StepRule::kTorchAdam ? -lr / bc1
                                                        : -lr * std::sqrt(bc2) / bc1;
    apply(p, dir.narrow(0, offsets_[i], p.param.numel()).view(p.param.sizes()) * rate);
  }
}

void ProjectedAdam::step(const std::vector<double>& lrs) {
  at::NoGradGuard no_grad;
  ++step_;
  if (flat_g_.defined()) {
    step_flat(lrs);
    return;
  }
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
    apply(p, u);
  }
}

}  // namespace lorasub::method
