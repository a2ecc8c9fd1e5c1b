#include "lorasub/method/inflora_learner.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "lorasub/method/covariance.h"
#include "lorasub/method/schedule.h"

namespace lorasub::method {
namespace {

at::Tensor host_copy(const at::Tensor& t) {
  return t.detach().to(at::TensorOptions().device(at::kCPU), /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace

InfloraLearner::InfloraLearner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan,
                               dist::Communicator& comm)
    : Learner(vit, cfg, plan, comm), memory_(static_cast<size_t>(vit.shape().depth)) {}

void InfloraLearner::add_adapters() { bank_.add_task(cfg_.run.seed, model::BInit::kZero); }

std::vector<at::Tensor> InfloraLearner::covariances(const BatchSource& batches, model::ForwardOptions view) {
  at::NoGradGuard no_grad;
  const auto& s = vit_.shape();
  CovarianceAccumulator acc(s.depth, s.dim, device_);
  view.on_ln1 = [&acc](int64_t block, const at::Tensor& z) { acc.add(block, z); };
  view.inputs_only = true;
  while (auto b = batches()) {
    c10::InferenceMode inference;  // the batch's activations; the sums are made outside
    if (b->n > 0) features(batch_images(*b), view);
  }
  acc.allreduce(comm_);
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < s.depth; ++i) out.push_back(acc.covariance(i));
  return out;
}

// Before task t: the covariance of the task's inputs under W0 + the old deltas (B_t is
// still 0), and A_t = A_t^k = A_t^v per block from it and the memory.
void InfloraLearner::prepare_task(const BatchSource& train_batches) {
  model::ForwardOptions view = bank_.training_view();
  view.adapters = nullptr;  // delta_t = B_t A_t = 0
  const std::vector<at::Tensor> cov = covariances(train_batches, view);
  model::TaskAdapters& current = bank_.task(task());
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < cov.size(); ++i) {
    const at::Tensor a = design_down_projection(cov[i], memory_[i], cfg_.method.rank).to(device_);
    current.blocks[i].a_k = a.clone();
    current.blocks[i].a_v = a.clone();
  }
  projector_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  freeze_down_projections();
  bank_.refresh();
}

void InfloraLearner::freeze_down_projections() {
  for (auto& b : bank_.task(task()).blocks) {
    b.a_k.requires_grad_(false);
    b.a_v.requires_grad_(false);
  }
}

std::vector<at::Tensor> InfloraLearner::add_parameters(ProjectedAdam& opt) {
  std::vector<at::Tensor> params;
  for (const auto& b : bank_.task(task()).blocks) params.insert(params.end(), {b.b_k, b.b_v});
  params.push_back(heads_.back().weight);
  params.push_back(heads_.back().bias);
  for (const at::Tensor& p : params) opt.add(p, 0);  // one group: the head at the adapters' rate
  return params;
}

std::vector<double> InfloraLearner::epoch_rates(int64_t epoch) const {
  const bool first = task() == 0;
  const double mult = lr_multiplier(epoch, first ? cfg_.train.init_epochs : cfg_.train.epochs);
  return {(first ? cfg_.train.init_lr : cfg_.train.lrate) * mult};
}

// After task t: the covariance through the trained model, and the DualGPM update with
// the threshold of task t. After the plan's last task nothing would read the memory,
// so the pass is skipped there.
void InfloraLearner::after_training(const BatchSource& train_batches) {
  if (task() + 1 >= plan_.num_tasks()) return;
  const std::vector<at::Tensor> cov = covariances(train_batches, bank_.full_view());
  const double threshold = gpm_threshold(cfg_.inflora.lamb, cfg_.inflora.lame, task(), plan_.num_tasks());
  for (size_t i = 0; i < cov.size(); ++i) memory_[i] = update_memory(memory_[i], cov[i], threshold);
}

void InfloraLearner::save_method_state(LearnerState& s) const {
  const int64_t depth = static_cast<int64_t>(memory_.size());
  at::Tensor kinds = at::zeros({depth}, at::kLong), columns = at::zeros({depth}, at::kLong);
  for (int64_t i = 0; i < depth; ++i) {
    const GpmMemory& m = memory_[static_cast<size_t>(i)];
    kinds[i] = m.kind == GpmMemory::Kind::kRetain ? 1 : 0;
    columns[i] = m.columns();
    if (m.columns() > 0) s.method["gpm_basis_block_" + std::to_string(i)] = host_copy(m.basis);
  }
  s.method["gpm_kind"] = kinds;  // 0 remove: the basis spans the used space; 1 retain: its complement
  s.method["gpm_columns"] = columns;
}

void InfloraLearner::restore_method_state(const LearnerState& s) {
  auto need = [&s](const std::string& key) -> const at::Tensor& {
    const auto it = s.method.find(key);
    if (it == s.method.end()) throw std::runtime_error("learner state: inflora needs method/" + key);
    return it->second;
  };
  const at::Tensor kinds = need("gpm_kind"), columns = need("gpm_columns");
  const int64_t depth = vit_.shape().depth, d = vit_.shape().dim;
  if (kinds.numel() != depth || columns.numel() != depth)
    throw std::runtime_error("learner state: method/gpm_kind and gpm_columns must have one entry per block");
  for (int64_t i = 0; i < depth; ++i) {
    GpmMemory m;
    m.kind = kinds[i].item<int64_t>() == 1 ? GpmMemory::Kind::kRetain : GpmMemory::Kind::kRemove;
    const int64_t k = columns[i].item<int64_t>();
    if (k > 0) {
      m.basis = need("gpm_basis_block_" + std::to_string(i)).to(at::kDouble);
      if (m.basis.dim() != 2 || m.basis.size(0) != d || m.basis.size(1) != k)
        throw std::runtime_error("learner state: method/gpm_basis_block_" + std::to_string(i) + " must be " +
                                 std::to_string(d) + " x " + std::to_string(k));
    }
    memory_[static_cast<size_t>(i)] = std::move(m);
  }
  freeze_down_projections();
}

}  // namespace lorasub::method
