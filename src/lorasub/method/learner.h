// The continual learner: LoRA- with the drift-resistant space (default) and the
// sequential-LoRA baseline. The trainer drives it task by task:
//   begin_task(t) -> begin_epoch(j) / train_step(batch)... -> end_training()
//   -> add_prototypes(batches) -> evaluate(batches)
// Every collective goes through the Communicator, in the same order on every rank.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/TensorOptions.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "lorasub/core/config.h"
#include "lorasub/data/loader.h"
#include "lorasub/data/task_plan.h"
#include "lorasub/dist/communicator.h"
#include "lorasub/method/drs_projector.h"
#include "lorasub/method/grad_sync.h"
#include "lorasub/method/projected_adam.h"
#include "lorasub/model/lora_bank.h"
#include "lorasub/model/vit.h"

namespace lorasub::method {

using BatchSource = std::function<std::optional<data::Batch>()>;

struct Head {
  at::Tensor weight, bias;  // classes x d, classes
};

struct StepResult {
  double ce = 0.0;                 // mean CE over the global batch
  double atl = 0.0;                // mean ATL over the global batch (before lambda)
  double loss = 0.0;               // ce + lambda * atl
  bool stop = false;               // some rank asked to stop (control slot)
  double allreduce_seconds = 0.0;  // wall time of the step's fused gradient all-reduce
};

// Everything the learner's next step depends on (a checkpoint's learner part).
struct LearnerState {
  int64_t task = -1;                          // the task in progress or just finished
  bool trained = false;                       // end_training() done for `task`
  std::vector<model::TaskAdapters> adapters;  // tasks 0..task
  std::vector<Head> heads;                    // tasks 0..task
  at::Tensor prototypes;                      // all classes of the plan x d (unset rows 0)
  std::vector<int64_t> proto_counts;          // per class, 0 = not yet
  std::vector<at::Tensor> projectors;         // per block for `task`; empty = none
  std::vector<int64_t> kept_dims;             // per block for `task`
  int64_t adam_steps = 0;                     // optimizer of `task`
  std::vector<at::Tensor> adam_m, adam_v;     // in optimizer order (A_k,B_k,A_v,B_v per block, head w, b)
};

// What evaluate() measures besides the learner's own NCM accuracy (feature drift).
struct EvalOptions {
  at::Tensor alt_prototypes;  // seen x d: also count NCM hits against these (alt_correct)
  bool class_means = false;   // also return the class means of the test features
};

struct EvalResult {
  std::vector<int64_t> correct, total;   // per task seen so far
  std::vector<int64_t> alt_correct;      // per task, against EvalOptions::alt_prototypes
  at::Tensor class_means;                // seen x d float32 (unnormalised test features)
  double overall() const;                // % over all seen test images
  std::vector<double> per_task() const;  // % per task
  std::vector<double> alt_per_task() const;
};

class Learner {
 public:
  Learner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan, dist::Communicator& comm);
  virtual ~Learner() = default;

  // Adds task t's adapters and head, runs the covariance pass (t >= 1, when the learner
  // projects) over `covariance_batches` and rebuilds the optimizer.
  void begin_task(int64_t t, const BatchSource& covariance_batches);
  void begin_epoch(int64_t epoch);
  // One global step: local forward/backward, one fused all-reduce, projected Adam.
  // global_batch is the size of the whole global batch this rank's batch belongs to.
  StepResult train_step(const data::Batch& local, int64_t global_batch, bool stop_request);
  // Folds the trained adapter into the evaluation weights.
  void end_training();
  // Class means of unnormalised features (test transform) of task t's classes.
  void add_prototypes(const BatchSource& batches);
  // NCM accuracy over all seen classes, per task; counts all-reduced.
  EvalResult evaluate(const BatchSource& batches, const EvalOptions& options = {});
  // Class means (float32, all-reduced) of the unnormalised features of classes
  // [first, end) in `batches`, with the current backbone and adapters: the prototypes
  // those classes would get now. `counts` (optional): images per class, all ranks.
  at::Tensor class_means(const BatchSource& batches, int64_t first, int64_t end,
                         std::vector<int64_t>* counts = nullptr);
  // false for methods that only take class means (ncm): the trainer runs no epochs.
  virtual bool trains() const { return true; }

  bool trained() const { return trained_; }  // end_training() done for the current task
  // A deep copy of the state as host tensors (detached).
  LearnerState state() const;
  // Replaces the learner's state with `s` (a fresh learner, or one being rolled back),
  // so that the next call continues exactly where the learner that saved it stood.
  void restore(const LearnerState& s);
  const model::LoraBank& bank() const { return bank_; }
  const std::vector<Head>& heads() const { return heads_; }
  const at::Tensor& prototypes() const { return prototypes_; }  // C x d
  const std::vector<int64_t>& proto_counts() const { return proto_counts_; }
  const std::vector<int64_t>& kept_dims() const { return kept_dims_; }  // per block
  size_t allreduce_bytes() const { return sync_ ? sync_->bytes() : 0; }

 protected:
  virtual bool projects() const;
  virtual double atl_weight() const;

 private:
  void covariance_pass(const BatchSource& batches);
  void build_optimizer();
  at::Tensor atl_feature_grad(const at::Tensor& feats, const at::Tensor& labels, int64_t global_batch,
                              at::Tensor* atl_sum_local);
  at::Tensor old_prototypes_normalized() const;
  at::Tensor batch_images(const data::Batch& b) const;
  at::Tensor batch_labels(const data::Batch& b) const;
  // The CLS features of `images` (bf16 autocast with train.precision bf16), as float32.
  at::Tensor features(const at::Tensor& images, const model::ForwardOptions& view) const;
  at::TensorOptions on_device(at::ScalarType type) const;
  at::Tensor to_device(const at::Tensor& t) const;

  const model::Vit& vit_;
  const Config& cfg_;
  const data::TaskPlan& plan_;
  dist::Communicator& comm_;
  at::Device device_;  // the backbone's: everything the learner holds lives there
  bool bf16_;
  model::LoraBank bank_;
  std::vector<Head> heads_;
  std::vector<DrsProjector> projectors_;
  std::vector<int64_t> kept_dims_;
  at::Tensor prototypes_;
  std::vector<int64_t> proto_counts_;
  std::unique_ptr<ProjectedAdam> adam_;
  std::unique_ptr<GradSync> sync_;
  std::vector<double> lrs_{0.0, 0.0};
  int64_t task_ = -1;
  bool trained_ = false;
};

// The sequential-LoRA baseline: same adapters, heads, prototypes and NCM; no
// subtraction, no projection, no ATL.
class SeqLoraLearner final : public Learner {
 public:
  using Learner::Learner;

 protected:
  bool projects() const override { return false; }
  double atl_weight() const override { return 0.0; }
};

// The frozen-backbone baseline (SimpleCIL-style): no training at all; the frozen
// backbone's class means and cosine NCM. Its adapters stay at their zero delta.
class NcmLearner final : public Learner {
 public:
  using Learner::Learner;
  bool trains() const override { return false; }

 protected:
  bool projects() const override { return false; }
  double atl_weight() const override { return 0.0; }
};

std::unique_ptr<Learner> make_learner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan,
                                      dist::Communicator& comm);

}  // namespace lorasub::method
