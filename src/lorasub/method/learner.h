// The continual learner's engine, shared by every method: per-task adapters and heads,
// one fused gradient all-reduce per step, class prototypes, NCM or head evaluation, and
// the state a checkpoint holds. Each method is a subclass in its own file (LoRA-/DRS and
// its baselines: lora_drs_learner.h; InfLoRA: inflora_learner.h; SD-LoRA:
// sdlora_learner.h) that fills in the hooks below. The trainer drives it task by task:
//   begin_task(t) -> begin_epoch(j) / train_step(batch)... -> end_training(batches)
//   -> add_prototypes(batches) -> evaluate(batches)
// Every collective goes through the Communicator, in the same order on every rank.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/TensorOptions.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lorasub/core/config.h"
#include "lorasub/data/loader.h"
#include "lorasub/data/task_plan.h"
#include "lorasub/dist/communicator.h"
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
  std::vector<at::Tensor> adam_m, adam_v;     // in optimizer order (the method's trained parameters)
  // The method's own state by name (host tensors; a checkpoint's "method/<name>" datasets).
  std::map<std::string, at::Tensor> method;
};

// What evaluate() measures besides the learner's own NCM accuracy (feature drift).
struct EvalOptions {
  at::Tensor alt_prototypes;  // seen x d: also count NCM hits against these (alt_correct)
  bool class_means = false;   // also return the class means of the test features
};

struct EvalResult {
  std::vector<int64_t> correct, total;   // per task seen so far
  std::vector<int64_t> ncm_correct;      // per task, NCM against the stored prototypes
  std::vector<int64_t> alt_correct;      // per task, against EvalOptions::alt_prototypes
  at::Tensor class_means;                // seen x d float32 (unnormalised test features)
  double overall() const;                // % over all seen test images
  std::vector<double> per_task() const;  // % per task
  std::vector<double> alt_per_task() const;
  std::vector<double> ncm_per_task() const;  // % per task, NCM against the stored prototypes
};

class Learner {
 public:
  Learner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan, dist::Communicator& comm,
          model::LoraTargets targets = model::LoraTargets::kKeyValue);
  virtual ~Learner() = default;

  // Adds task t's adapters and head, runs the method's pre-task work (prepare_task) over
  // `train_batches` and rebuilds the optimizer.
  void begin_task(int64_t t, const BatchSource& train_batches);
  void begin_epoch(int64_t epoch);
  // One global step: local forward/backward, one fused all-reduce, the optimizer step.
  // global_batch is the size of the whole global batch this rank's batch belongs to.
  StepResult train_step(const data::Batch& local, int64_t global_batch, bool stop_request);
  // Ends the task's training: the method's post-training work (after_training, which may
  // read `train_batches`), then the evaluation weights.
  void end_training(const BatchSource& train_batches);
  // Class means of unnormalised features (test transform) of task t's classes.
  void add_prototypes(const BatchSource& batches);
  // Accuracy over all seen classes, per task (NCM, or the heads' argmax for methods that
  // predict with them); counts all-reduced.
  EvalResult evaluate(const BatchSource& batches, const EvalOptions& options = {});
  // Class means (float32, all-reduced) of the unnormalised features of classes
  // [first, end) in `batches`, with the current backbone and adapters: the prototypes
  // those classes would get now. `counts` (optional): images per class, all ranks.
  at::Tensor class_means(const BatchSource& batches, int64_t first, int64_t end,
                         std::vector<int64_t>* counts = nullptr);
  // false for methods that only take class means (ncm): the trainer runs no epochs.
  virtual bool trains() const { return true; }
  // true: predictions are the argmax over all seen heads' logits; false: cosine NCM.
  virtual bool predicts_with_heads() const { return false; }

  bool trained() const { return trained_; }  // end_training() done for the current task
  // A deep copy of the state as host tensors (detached). deep = false: tensors already on
  // the host are shared, not copied, for a snapshot that is used up before the learner
  // next changes (a checkpoint being written), so that it costs no second copy of every
  // task's adapters.
  LearnerState state(bool deep = true) const;
  // Replaces the learner's state with `s` (a fresh learner, or one being rolled back),
  // so that the next call continues exactly where the learner that saved it stood.
  void restore(const LearnerState& s);
  const model::LoraBank& bank() const { return bank_; }
  const std::vector<Head>& heads() const { return heads_; }
  const at::Tensor& prototypes() const { return prototypes_; }  // C x d
  const std::vector<int64_t>& proto_counts() const { return proto_counts_; }
  const std::vector<int64_t>& kept_dims() const { return kept_dims_; }  // per block (DRS; d otherwise)
  // Wall seconds begin_task spent deriving the task's projections from the covariances
  // (DRS projectors, InfLoRA's A_t): the eigendecomposition part of the covariance phase.
  double projector_seconds() const { return projector_seconds_; }
  size_t allreduce_bytes() const { return sync_ ? sync_->bytes() : 0; }
  // The parameters the optimizer trains in the current task (what the gradients sum over).
  const std::vector<at::Tensor>& trained_parameters() const { return trained_params_; }
  // The per-block qkv weights the learner evaluates with now (after end_training).
  std::vector<at::Tensor> evaluation_qkv() const;

 protected:
  // ---- the hooks a method fills in ----
  // Appends task_'s adapters to bank_ (default: the reference init, sparse B).
  virtual void add_adapters();
  // Task t's head (default: torch.nn.Linear's init, U(+-1/sqrt(d)) for weight and bias).
  virtual Head make_head(int64_t t) const;
  // After the task's adapters and head exist, before the optimizer is built.
  virtual void prepare_task(const BatchSource& train_batches) { (void)train_batches; }
  // Adds the trained parameters to `opt` and returns them in the same order (default:
  // every current adapter matrix in group 0, the head in group 1, no projection).
  virtual std::vector<at::Tensor> add_parameters(ProjectedAdam& opt);
  virtual StepRule step_rule() const { return StepRule::kReferenceAdam; }
  // The rate of every optimizer group in `epoch` of the current task (default: the
  // reference's schedule, adapters at init_lr / lrate, heads at fc_lrate).
  virtual std::vector<double> epoch_rates(int64_t epoch) const;
  // The forward of a training step and of the evaluation (after end_training).
  virtual model::ForwardOptions training_view() { return bank_.training_view(); }
  virtual model::ForwardOptions eval_view() const { return bank_.full_view(); }
  // A loss term besides the CE, as its gradient w.r.t. this rank's features (already
  // divided by the global batch) and its local sum (before its weight); undefined = none.
  virtual at::Tensor extra_feature_grad(const at::Tensor& feats, const at::Tensor& labels, int64_t global_batch,
                                        at::Tensor* sum_local);
  virtual double extra_weight() const { return 0.0; }
  // After the task's last step, before the evaluation weights are made.
  virtual void after_training(const BatchSource& train_batches) { (void)train_batches; }
  // The method's own state (LearnerState::method) and its restore, after the engine's.
  virtual void save_method_state(LearnerState& s) const { (void)s; }
  virtual void restore_method_state(const LearnerState& s) { (void)s; }

  // ---- what the hooks work with ----
  at::Tensor batch_images(const data::Batch& b) const;
  at::Tensor batch_labels(const data::Batch& b) const;
  // The CLS features of `images` (bf16 autocast with train.precision bf16), as float32;
  // undefined with view.inputs_only.
  at::Tensor features(const at::Tensor& images, const model::ForwardOptions& view) const;
  at::TensorOptions on_device(at::ScalarType type) const;
  at::Tensor to_device(const at::Tensor& t) const;
  int64_t task() const { return task_; }

  const model::Vit& vit_;
  const Config& cfg_;
  const data::TaskPlan& plan_;
  dist::Communicator& comm_;
  at::Device device_;  // the backbone's: everything the learner holds lives there
  model::LoraBank bank_;
  std::vector<Head> heads_;
  std::vector<int64_t> kept_dims_;
  double projector_seconds_ = 0;

 private:
  void build_optimizer();
  at::Tensor logits(const at::Tensor& feats) const;  // all seen heads, concatenated

  bool bf16_;
  at::Tensor prototypes_;
  std::vector<int64_t> proto_counts_;
  std::unique_ptr<ProjectedAdam> adam_;
  std::unique_ptr<GradSync> sync_;
  std::vector<at::Tensor> trained_params_;
  std::vector<double> lrs_;
  int64_t task_ = -1;
  bool trained_ = false;
};

// One learner per method.name: lora-drs, seq-lora, ncm, inflora, sd-lora.
std::unique_ptr<Learner> make_learner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan,
                                      dist::Communicator& comm);

}  // namespace lorasub::method
