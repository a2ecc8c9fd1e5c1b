#include "lorasub/method/lora_drs_learner.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "lorasub/data/sampler.h"
#include "lorasub/method/covariance.h"
#include "lorasub/method/normalize.h"
#include "lorasub/method/tensor_comm.h"
#include "lorasub/method/triplet_loss.h"

namespace lorasub::method {

bool LoraDrsLearner::projects() const { return cfg_.drs.project; }
double LoraDrsLearner::extra_weight() const { return cfg_.loss.atl_weight; }

void LoraDrsLearner::prepare_task(const BatchSource& train_batches) {
  projectors_.clear();
  if (task() >= 1 && projects()) covariance_pass(train_batches);
}

void LoraDrsLearner::covariance_pass(const BatchSource& batches) {
  at::NoGradGuard no_grad;
  const auto& s = vit_.shape();
  CovarianceAccumulator acc(s.depth, s.dim, device_);
  model::ForwardOptions view = cfg_.drs.subtract ? bank_.subtracted_view() : bank_.training_view();
  view.adapters = nullptr;  // delta_t is neither added nor subtracted
  view.on_ln1 = [&acc](int64_t block, const at::Tensor& z) { acc.add(block, z); };
  view.inputs_only = true;
  while (auto b = batches()) {
    c10::InferenceMode inference;  // the batch's activations; the sums are made outside
    if (b->n > 0) features(batch_images(*b), view);
  }
  acc.allreduce(comm_);
  const auto t0 = std::chrono::steady_clock::now();
  derive_projectors(acc);
  projector_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Every rank holds the same covariances. Rank r decomposes blocks r, r + ranks, ...
// (float64 eigh on the host, ~0.1 s a block at d 768) and broadcasts them, so the
// decompositions are split across ranks instead of repeated on each; every rank ends
// with the owner's bytes.
void LoraDrsLearner::derive_projectors(const CovarianceAccumulator& acc) {
  const int64_t depth = vit_.shape().depth, d = vit_.shape().dim, ranks = comm_.size();
  projectors_.assign(static_cast<size_t>(depth), DrsProjector{});
  std::vector<int64_t> kept(static_cast<size_t>(depth), 0);
  for (int64_t i = 0; i < depth; ++i) {
    DrsProjector& p = projectors_[static_cast<size_t>(i)];
    if (i % ranks == comm_.rank()) {
      p = make_projector(acc.covariance(i), cfg_.drs.energy);
      kept[static_cast<size_t>(i)] = p.kept;
    } else {
      p.p = at::empty({d, d}, on_device(at::kFloat));
    }
  }
  for (int64_t i = 0; i < depth; ++i) broadcast(comm_, projectors_[static_cast<size_t>(i)].p, static_cast<int>(i % ranks));
  comm_.allreduce_sum(kept.data(), kept.size());  // one owner each, the others add 0
  for (int64_t i = 0; i < depth; ++i) {
    projectors_[static_cast<size_t>(i)].kept = kept[static_cast<size_t>(i)];
    kept_dims_[static_cast<size_t>(i)] = kept[static_cast<size_t>(i)];
  }
}

std::vector<at::Tensor> LoraDrsLearner::add_parameters(ProjectedAdam& opt) {
  if (projectors_.empty()) return Learner::add_parameters(opt);
  std::vector<at::Tensor> params = bank_.current_parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const bool is_a = (i % 2) == 0;  // order per block: A_k, B_k, A_v, B_v
    opt.add(params[i], 0, is_a ? ProjectSide::kRight : ProjectSide::kLeft, projectors_[i / 4].p);
  }
  for (const at::Tensor& p : {heads_.back().weight, heads_.back().bias}) {
    opt.add(p, 1);
    params.push_back(p);
  }
  return params;
}

at::Tensor LoraDrsLearner::old_prototypes_normalized() const {
  const int64_t known = plan_.first_class(task());
  if (known == 0) return {};
  return l2_normalize(prototypes().narrow(0, 0, known), 1e-12);
}

// Gradient of lambda * ATL(global batch) w.r.t. this rank's features: features are
// all-gathered, each rank differentiates the loss of its own anchors w.r.t. every
// feature, and the per-feature gradients are summed across ranks. Every rank's share of
// the global batch follows from the sampler's shard rule, so no sizes are exchanged.
at::Tensor LoraDrsLearner::extra_feature_grad(const at::Tensor& feats, const at::Tensor& labels, int64_t global_batch,
                                              at::Tensor* atl_sum_local) {
  if (!(extra_weight() > 0.0)) return {};
  const int64_t d = vit_.shape().dim, n = feats.size(0);
  std::vector<int64_t> counts;
  int64_t offset = 0;
  for (int r = 0; r < comm_.size(); ++r) {
    const data::Shard s = data::shard_of(global_batch, r, comm_.size());
    if (r == comm_.rank()) offset = s.first;
    counts.push_back(s.size());
  }
  if (counts[static_cast<size_t>(comm_.rank())] != n)
    throw std::logic_error("ATL: local batch of " + std::to_string(n) + " is not this rank's share of " +
                           std::to_string(global_batch));
  at::Tensor gathered = allgather_rows(comm_, feats.detach().contiguous(), counts);
  at::Tensor lab_all = allgather_rows(comm_, labels.to(at::kFloat).contiguous(), counts).to(at::kLong);
  gathered.requires_grad_(true);
  at::Tensor atl =
      triplet_loss_sum(gathered, lab_all, old_prototypes_normalized(), cfg_.loss.margin, offset, offset + n);
  *atl_sum_local = atl.detach();
  at::Tensor g = at::zeros({global_batch, d}, on_device(at::kFloat));
  if (n > 0) {
    (atl * (extra_weight() / static_cast<double>(global_batch))).backward();
    g = gathered.grad().contiguous();
  }
  allreduce_sum(comm_, g);
  return g.narrow(0, offset, n);
}

void LoraDrsLearner::save_method_state(LearnerState& s) const {
  for (const auto& p : projectors_)
    s.projectors.push_back(p.p.detach().to(at::TensorOptions().device(at::kCPU), false, /*copy=*/true));
}

void LoraDrsLearner::restore_method_state(const LearnerState& s) {
  projectors_.clear();
  for (size_t i = 0; i < s.projectors.size(); ++i)
    projectors_.push_back(DrsProjector{to_device(s.projectors[i]), kept_dims_.at(i)});
}

void NcmLearner::add_adapters() {
  model::TaskAdapters zero;
  const int64_t d = vit_.shape().dim, r = cfg_.method.rank;
  for (int64_t i = 0; i < vit_.shape().depth; ++i)
    zero.blocks.push_back({at::zeros({r, d}), at::zeros({d, r}), at::zeros({r, d}), at::zeros({d, r})});
  bank_.add_task(std::move(zero));
}

}  // namespace lorasub::method
