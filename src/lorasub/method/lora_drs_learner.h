// LoRA- with the drift-resistant space (Liu & Chang, CVPR 2025; the default method) and
// the two baselines that share its adapters, heads, prototypes and NCM: sequential LoRA
// (no subtraction, projection or ATL) and the frozen backbone (no training at all).
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

#include "lorasub/method/covariance.h"
#include "lorasub/method/drs_projector.h"
#include "lorasub/method/learner.h"

namespace lorasub::method {

class LoraDrsLearner : public Learner {
 public:
  LoraDrsLearner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan, dist::Communicator& comm)
      : Learner(vit, cfg, plan, comm) {}

 protected:
  // t >= 1 and projecting: the covariance pass under W0 - sum of old deltas (or the
  // current weights with drs.subtract false) and one projector per block.
  void prepare_task(const BatchSource& train_batches) override;
  // A's steps projected on the right, B's on the left; the head unprojected.
  std::vector<at::Tensor> add_parameters(ProjectedAdam& opt) override;
  at::Tensor extra_feature_grad(const at::Tensor& feats, const at::Tensor& labels, int64_t global_batch,
                                at::Tensor* sum_local) override;
  double extra_weight() const override;
  void save_method_state(LearnerState& s) const override;
  void restore_method_state(const LearnerState& s) override;
  virtual bool projects() const;

 private:
  void covariance_pass(const BatchSource& batches);
  // The blocks' projectors from the summed covariances, split across ranks (see .cpp).
  void derive_projectors(const CovarianceAccumulator& acc);
  at::Tensor old_prototypes_normalized() const;
  std::vector<DrsProjector> projectors_;
};

// The sequential-LoRA baseline: same adapters, heads, prototypes and NCM; no
// subtraction, no projection, no ATL.
class SeqLoraLearner final : public LoraDrsLearner {
 public:
  using LoraDrsLearner::LoraDrsLearner;

 protected:
  bool projects() const override { return false; }
  double extra_weight() const override { return 0.0; }
};

// The frozen-backbone baseline (SimpleCIL-style): no training at all; the frozen
// backbone's class means and cosine NCM. Its adapters stay at their zero delta.
class NcmLearner final : public LoraDrsLearner {
 public:
  using LoraDrsLearner::LoraDrsLearner;
  bool trains() const override { return false; }

 protected:
  void add_adapters() override;  // zero deltas (the reference's B init is not 0)
  bool projects() const override { return false; }
  double extra_weight() const override { return 0.0; }
};

}  // namespace lorasub::method
