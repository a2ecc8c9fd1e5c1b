#include "lorasub/method/sdlora_learner.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "lorasub/core/rng.h"

namespace lorasub::method {

void scale_directions(std::vector<model::StackedAdapter>& stacked, const at::Tensor& magnitudes,
                      const at::Tensor& inv_norms, int64_t rank) {
  for (size_t i = 0; i < stacked.size(); ++i) {
    const int64_t b = static_cast<int64_t>(i);
    stacked[i].scale_k = (magnitudes * inv_norms[b][0]).repeat_interleave(rank);
    stacked[i].scale_v = (magnitudes * inv_norms[b][1]).repeat_interleave(rank);
  }
}

SdLoraLearner::SdLoraLearner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan,
                             dist::Communicator& comm)
    : Learner(vit, cfg, plan, comm, model::LoraTargets::kQueryValue) {}

void SdLoraLearner::add_adapters() { bank_.add_task(cfg_.run.seed, model::BInit::kZero); }

// SimpleLinear's init: kaiming_uniform(nonlinearity='linear') = U(+-sqrt(3/d)), bias 0.
Head SdLoraLearner::make_head(int64_t t) const {
  const int64_t classes = plan_.task_size(t), d = vit_.shape().dim;
  Rng rng(Stream::kHeadInit, {cfg_.run.seed, static_cast<uint64_t>(t)});
  const double bound = std::sqrt(3.0 / static_cast<double>(d));
  Head h{at::empty({classes, d}, at::kFloat), at::zeros({classes}, at::kFloat)};
  float* p = h.weight.data_ptr<float>();
  for (int64_t i = 0; i < h.weight.numel(); ++i) p[i] = static_cast<float>(rng.uniform(-bound, bound));
  h.weight = h.weight.to(device_).requires_grad_(true);
  h.bias = h.bias.to(device_).requires_grad_(true);
  return h;
}

void SdLoraLearner::stack_old_directions() {
  const int64_t t = task(), depth = vit_.shape().depth;
  stacked_.clear();
  inv_norms_ = at::zeros({depth, 2, t}, on_device(at::kFloat));
  if (t == 0) return;
  for (int64_t i = 0; i < depth; ++i) {
    std::vector<at::Tensor> a1, b1, av, bv;
    for (int64_t j = 0; j < t; ++j) {
      const model::KvAdapter& a = bank_.task(j).blocks[i];
      a1.push_back(a.a_k.detach());
      b1.push_back(a.b_k.detach());
      av.push_back(a.a_v.detach());
      bv.push_back(a.b_v.detach());
      // torch.norm(B) * torch.norm(A) in float32, as the reference divides by.
      const at::Tensor n1 = at::norm(a.b_k.detach()) * at::norm(a.a_k.detach());
      const at::Tensor nv = at::norm(a.b_v.detach()) * at::norm(a.a_v.detach());
      inv_norms_[i][0][j].copy_(at::where(n1 > 0, n1.reciprocal(), at::zeros_like(n1)));
      inv_norms_[i][1][j].copy_(at::where(nv > 0, nv.reciprocal(), at::zeros_like(nv)));
    }
    stacked_.push_back({at::cat(a1, 0), at::cat(b1, 1), at::cat(av, 0), at::cat(bv, 1), {}, {}});
  }
}

void SdLoraLearner::prepare_task(const BatchSource&) {
  magnitudes_ = at::full({task() + 1}, kMagnitudeInit, on_device(at::kFloat)).requires_grad_(true);
  stack_old_directions();
  eval_qkv_.clear();
}

std::vector<at::Tensor> SdLoraLearner::add_parameters(ProjectedAdam& opt) {
  std::vector<at::Tensor> params = bank_.current_parameters();  // A_q, B_q, A_v, B_v per block
  params.push_back(magnitudes_);
  params.push_back(heads_.back().weight);
  params.push_back(heads_.back().bias);
  for (const at::Tensor& p : params) opt.add(p, 0);  // one SGD group
  return params;
}

std::vector<double> SdLoraLearner::epoch_rates(int64_t) const {
  return {task() == 0 ? cfg_.train.init_lr : cfg_.train.lrate};
}

// W0, the earlier directions low-rank with their magnitudes in the graph, the current
// adapter times alpha_t. Rebuilt every step: the magnitudes change with every step.
model::ForwardOptions SdLoraLearner::training_view() {
  model::ForwardOptions o;  // W0: nothing folded
  o.adapt_query = true;
  o.adapters = bank_.current_adapters();
  const int64_t t = task(), r = bank_.rank();
  o.adapter_scale = magnitudes_.narrow(0, t, 1);
  if (t > 0) {
    scale_directions(stacked_, magnitudes_.narrow(0, 0, t), inv_norms_, r);
    o.stacked = &stacked_;
  }
  return o;
}

void SdLoraLearner::fold_evaluation_weights() {
  const int64_t t = task();
  const at::Tensor alpha = magnitudes_.detach().to(at::kCPU).to(at::kDouble);
  const at::Tensor inv = inv_norms_.detach().to(at::kCPU).to(at::kDouble);
  eval_qkv_ = bank_.folded_qkv(t + 1, [&](int64_t s, int64_t block, int target) {
    const double a = alpha[s].item<double>();
    return s == t ? a : a * inv[block][target][s].item<double>();
  });
}

model::ForwardOptions SdLoraLearner::eval_view() const {
  if (eval_qkv_.empty()) throw std::logic_error("SD-LoRA: evaluation before the task's training ended");
  model::ForwardOptions o;
  o.qkv_weights = &eval_qkv_;
  return o;
}

void SdLoraLearner::after_training(const BatchSource&) { fold_evaluation_weights(); }

void SdLoraLearner::save_method_state(LearnerState& s) const {
  s.method["magnitudes"] = magnitudes_.detach().to(at::TensorOptions().device(at::kCPU), false, /*copy=*/true);
}

void SdLoraLearner::restore_method_state(const LearnerState& s) {
  const auto it = s.method.find("magnitudes");
  if (it == s.method.end()) throw std::runtime_error("learner state: sd-lora needs method/magnitudes");
  if (it->second.dim() != 1 || it->second.numel() != task() + 1)
    throw std::runtime_error("learner state: method/magnitudes must hold " + std::to_string(task() + 1) +
                             " values (one per task so far)");
  magnitudes_ = to_device(it->second.to(at::kFloat)).requires_grad_(true);
  stack_old_directions();
  eval_qkv_.clear();
  if (s.trained) fold_evaluation_weights();
}

}  // namespace lorasub::method
