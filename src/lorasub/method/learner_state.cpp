// The learner's state as host tensors (what a checkpoint holds) and back onto the
// learner's device.
#include <ATen/ATen.h>

#include <stdexcept>

#include "lorasub/method/learner.h"

namespace lorasub::method {

namespace {
// A detached host copy (checkpoints read host memory); not deep: host tensors shared.
at::Tensor copy_of(const at::Tensor& t, bool deep) {
  return t.detach().to(at::TensorOptions().device(at::kCPU), /*non_blocking=*/false, /*copy=*/deep);
}
}  // namespace

// A detached copy on the learner's device.
at::Tensor Learner::to_device(const at::Tensor& t) const {
  return t.detach().to(at::TensorOptions().device(device_), /*non_blocking=*/false, /*copy=*/true);
}

LearnerState Learner::state(bool deep) const {
  auto copy_of = [deep](const at::Tensor& t) { return lorasub::method::copy_of(t, deep); };
  LearnerState s;
  s.task = task_;
  s.trained = trained_;
  for (int64_t t = 0; t < bank_.num_tasks(); ++t) {
    model::TaskAdapters ta;
    for (const auto& b : bank_.task(t).blocks)
      ta.blocks.push_back({copy_of(b.a_k), copy_of(b.b_k), copy_of(b.a_v), copy_of(b.b_v)});
    s.adapters.push_back(std::move(ta));
  }
  for (const auto& h : heads_) s.heads.push_back({copy_of(h.weight), copy_of(h.bias)});
  s.prototypes = copy_of(prototypes_);
  s.proto_counts = proto_counts_;
  s.kept_dims = kept_dims_;
  if (adam_) {
    s.adam_steps = adam_->steps();
    for (const auto& p : adam_->params()) {
      s.adam_m.push_back(copy_of(p.m));
      s.adam_v.push_back(copy_of(p.v));
    }
  }
  save_method_state(s);
  return s;
}

void Learner::restore(const LearnerState& s) {
  const auto& shape = vit_.shape();
  auto fail = [](const std::string& what) { throw std::runtime_error("learner state: " + what); };
  if (s.task < 0 || s.task >= plan_.num_tasks()) fail("task " + std::to_string(s.task) + " is not in the plan");
  if (static_cast<int64_t>(s.adapters.size()) != s.task + 1 || static_cast<int64_t>(s.heads.size()) != s.task + 1)
    fail("expected adapters and heads of " + std::to_string(s.task + 1) + " tasks");
  if (!s.prototypes.defined() || s.prototypes.size(0) != plan_.num_classes() || s.prototypes.size(1) != shape.dim)
    fail("prototypes must be classes x d");
  // The model's shape cannot change under a checkpoint (not even with --allow-config-change).
  const auto& a0 = s.adapters.front().blocks;
  if (static_cast<int64_t>(a0.size()) != shape.depth || static_cast<int64_t>(s.kept_dims.size()) != shape.depth)
    fail("its adapters are for " + std::to_string(a0.size()) + " blocks, model.depth is " +
         std::to_string(shape.depth) + " (a run cannot continue on another backbone shape)");
  if (a0.front().a_k.dim() != 2 || a0.front().a_k.size(1) != shape.dim)
    fail("its adapters are for width " + std::to_string(a0.front().a_k.dim() == 2 ? a0.front().a_k.size(1) : -1) +
         ", model.dim is " + std::to_string(shape.dim) + " (a run cannot continue on another backbone shape)");
  bank_.clear();
  for (int64_t t = 0; t <= s.task; ++t) {
    model::TaskAdapters ta;
    for (const auto& b : s.adapters[t].blocks)
      ta.blocks.push_back({to_device(b.a_k), to_device(b.b_k), to_device(b.a_v), to_device(b.b_v)});
    bank_.add_task(std::move(ta));
  }
  bank_.refresh();
  heads_.clear();
  for (int64_t t = 0; t <= s.task; ++t) {
    Head h{to_device(s.heads[t].weight), to_device(s.heads[t].bias)};
    if (h.weight.size(0) != plan_.task_size(t)) fail("head " + std::to_string(t) + " has the wrong number of classes");
    if (t == s.task) {
      h.weight.requires_grad_(true);
      h.bias.requires_grad_(true);
    }
    heads_.push_back(std::move(h));
  }
  prototypes_ = to_device(s.prototypes);
  proto_counts_ = s.proto_counts;
  kept_dims_ = s.kept_dims;
  task_ = s.task;
  trained_ = s.trained;
  restore_method_state(s);
  build_optimizer();
  if (!s.adam_m.empty()) {
    auto& ps = adam_->params();
    if (s.adam_m.size() != ps.size() || s.adam_v.size() != ps.size())
      fail("optimizer moments do not match the parameters");
    for (size_t i = 0; i < ps.size(); ++i) {
      if (!s.adam_m[i].sizes().equals(ps[i].m.sizes()) || !s.adam_v[i].sizes().equals(ps[i].v.sizes()))
        fail("optimizer moment " + std::to_string(i) + " has the wrong shape");
      ps[i].m.copy_(to_device(s.adam_m[i]));  // in place: the moments may be views of flat ones
      ps[i].v.copy_(to_device(s.adam_v[i]));
    }
  }
  adam_->set_steps(s.adam_steps);
}

}  // namespace lorasub::method
