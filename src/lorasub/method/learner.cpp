#include "lorasub/method/learner.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <stdexcept>

#include "lorasub/core/error.h"
#include "lorasub/core/rng.h"
#include "lorasub/model/autocast.h"
#include "lorasub/method/ncm.h"
#include "lorasub/method/schedule.h"
#include "lorasub/method/tensor_comm.h"

namespace lorasub::method {
namespace {

// torch.nn.Linear default init: U(+-1/sqrt(fan_in)) for weight and bias.
Head init_head(int64_t classes, int64_t d, uint64_t seed, int64_t task, at::Device device) {
  Rng rng(Stream::kHeadInit, {seed, static_cast<uint64_t>(task)});
  const double bound = 1.0 / std::sqrt(static_cast<double>(d));
  Head h{at::empty({classes, d}, at::kFloat), at::empty({classes}, at::kFloat)};
  for (at::Tensor* t : {&h.weight, &h.bias}) {
    float* p = t->data_ptr<float>();
    for (int64_t i = 0; i < t->numel(); ++i) p[i] = static_cast<float>(rng.uniform(-bound, bound));
    *t = t->to(device);
    t->requires_grad_(true);
  }
  return h;
}

}  // namespace

double EvalResult::overall() const {
  int64_t c = 0, t = 0;
  for (size_t i = 0; i < total.size(); ++i) {
    c += correct[i];
    t += total[i];
  }
  return t > 0 ? 100.0 * static_cast<double>(c) / static_cast<double>(t) : 0.0;
}

namespace {
std::vector<double> percent(const std::vector<int64_t>& correct, const std::vector<int64_t>& total) {
  std::vector<double> out;
  for (size_t i = 0; i < total.size() && i < correct.size(); ++i)
    out.push_back(total[i] > 0 ? 100.0 * static_cast<double>(correct[i]) / static_cast<double>(total[i]) : 0.0);
  return out;
}
}  // namespace

std::vector<double> EvalResult::per_task() const { return percent(correct, total); }
std::vector<double> EvalResult::alt_per_task() const { return percent(alt_correct, total); }
std::vector<double> EvalResult::ncm_per_task() const { return percent(ncm_correct, total); }

Learner::Learner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan, dist::Communicator& comm,
                 model::LoraTargets targets)
    : vit_(vit),
      cfg_(cfg),
      plan_(plan),
      comm_(comm),
      device_(vit.device()),
      bank_(vit, cfg.method.rank, targets),
      bf16_(cfg.train.precision == "bf16"),
      prototypes_(at::zeros({plan.num_classes(), vit.shape().dim}, on_device(at::kFloat))),
      proto_counts_(static_cast<size_t>(plan.num_classes()), 0) {}

at::TensorOptions Learner::on_device(at::ScalarType type) const { return at::TensorOptions(type).device(device_); }

// Batches arrive in host memory, page-locked on CUDA: then the copy is queued on the
// current stream, not waited for. From pageable memory it blocks.
at::Tensor Learner::batch_images(const data::Batch& b) const {
  return at::from_blob(const_cast<float*>(b.pixels.data()), {b.n, b.channels, b.height, b.width}, at::kFloat)
      .to(on_device(at::kFloat), /*non_blocking=*/b.page_locked());
}

at::Tensor Learner::batch_labels(const data::Batch& b) const {
  return at::from_blob(const_cast<int64_t*>(b.labels.data()), {b.n}, at::kLong)
      .to(on_device(at::kLong), /*non_blocking=*/b.page_locked());
}

at::Tensor Learner::features(const at::Tensor& images, const model::ForwardOptions& view) const {
  model::AutocastScope autocast(device_.type(), bf16_);
  const at::Tensor f = vit_.features(images, view);
  return f.defined() ? f.to(at::kFloat) : f;  // undefined: view.inputs_only
}

void Learner::add_adapters() { bank_.add_task(cfg_.run.seed); }

Head Learner::make_head(int64_t t) const {
  return init_head(plan_.task_size(t), vit_.shape().dim, cfg_.run.seed, t, device_);
}

void Learner::begin_task(int64_t t, const BatchSource& train_batches) {
  if (t != task_ + 1) throw std::logic_error("Learner::begin_task: tasks must come in order");
  task_ = t;
  trained_ = false;
  add_adapters();
  heads_.push_back(make_head(t));
  bank_.refresh();
  kept_dims_.assign(static_cast<size_t>(vit_.shape().depth), vit_.shape().dim);
  projector_seconds_ = 0;
  prepare_task(train_batches);
  build_optimizer();
}

std::vector<at::Tensor> Learner::add_parameters(ProjectedAdam& opt) {
  std::vector<at::Tensor> params = bank_.current_parameters();
  for (const at::Tensor& p : params) opt.add(p, 0);
  for (const at::Tensor& p : {heads_.back().weight, heads_.back().bias}) {
    opt.add(p, 1);
    params.push_back(p);
  }
  return params;
}

void Learner::build_optimizer() {
  adam_ = std::make_unique<ProjectedAdam>(0.9, 0.999, 1e-8, step_rule());
  trained_params_ = add_parameters(*adam_);
  sync_ = std::make_unique<GradSync>(trained_params_);
  // add_parameters returns the optimizer's order, the bucket's: one flat update a step.
  adam_->use_flat_gradients(sync_->gradients());
}

std::vector<double> Learner::epoch_rates(int64_t epoch) const {
  const double mult = lr_multiplier(epoch, cfg_.train.epochs);
  const double base = task_ == 0 ? cfg_.train.init_lr : cfg_.train.lrate;
  return {base * mult, cfg_.train.fc_lrate * mult};
}

void Learner::begin_epoch(int64_t epoch) { lrs_ = epoch_rates(epoch); }

at::Tensor Learner::extra_feature_grad(const at::Tensor&, const at::Tensor&, int64_t, at::Tensor*) { return {}; }

StepResult Learner::train_step(const data::Batch& local, int64_t global_batch, bool stop_request) {
  const Head& head = heads_.back();
  const int64_t known = plan_.first_class(task_);
  sync_->zero();
  at::Tensor feats = local.n > 0 ? features(batch_images(local), training_view())
                                 : at::zeros({0, vit_.shape().dim}, on_device(at::kFloat));
  at::Tensor labels = batch_labels(local);
  at::Tensor loss, ce_sum, extra_sum;
  if (local.n > 0) {
    at::Tensor ce =
        at::cross_entropy_loss(at::linear(feats, head.weight, head.bias), labels - known, {}, at::Reduction::Sum);
    ce_sum = ce.detach();
    loss = ce / static_cast<double>(global_batch);
  }
  at::Tensor g = extra_feature_grad(feats, labels, global_batch, &extra_sum);
  if (g.defined() && local.n > 0) loss = loss + (feats * g).sum();
  if (local.n > 0) loss.backward();
  const at::Tensor stop = at::full({1}, stop_request ? 1.0f : 0.0f, at::kFloat);
  std::vector<float> sums = sync_->allreduce(comm_, {stop, ce_sum, extra_sum});
  if (!sync_->finite()) {
    throw NonFiniteError("non-finite loss or gradient in task " + std::to_string(task_) + " (CE sum " +
                         std::to_string(sums[kSlotCeSum]) + ", ATL sum " + std::to_string(sums[kSlotAtlSum]) +
                         "); the optimizer step was not taken");
  }
  adam_->step(lrs_);
  StepResult r;
  r.ce = sums[kSlotCeSum] / static_cast<double>(global_batch);
  r.atl = sums[kSlotAtlSum] / static_cast<double>(global_batch);
  r.loss = r.ce + extra_weight() * r.atl;
  r.stop = sums[kSlotStop] > 0.0f;
  r.allreduce_seconds = sync_->last_seconds();
  return r;
}

void Learner::end_training(const BatchSource& train_batches) {
  bank_.refresh();  // the trained adapter is folded into the evaluation view
  after_training(train_batches);
  trained_ = true;
}

std::vector<at::Tensor> Learner::evaluation_qkv() const {
  const model::ForwardOptions view = eval_view();
  if (view.qkv_weights) return *view.qkv_weights;
  std::vector<at::Tensor> w0;
  for (const auto& b : vit_.blocks()) w0.push_back(b.qkv_w);
  return w0;
}

// One linear layer over the concatenated heads (what lorasub export writes and predict
// applies, so both compute the same logits).
at::Tensor Learner::logits(const at::Tensor& feats) const {
  std::vector<at::Tensor> w, b;
  for (int64_t t = 0; t <= task_; ++t) {
    w.push_back(heads_[t].weight);
    b.push_back(heads_[t].bias);
  }
  return at::linear(feats, at::cat(w, 0), at::cat(b, 0));
}

at::Tensor Learner::class_means(const BatchSource& batches, int64_t first, int64_t end,
                                std::vector<int64_t>* counts_out) {
  at::NoGradGuard no_grad;
  const int64_t k = end - first, d = vit_.shape().dim;
  at::Tensor sums = at::zeros({k, d}, on_device(at::kDouble));
  std::vector<int64_t> counts(static_cast<size_t>(k), 0);
  model::ForwardOptions view = eval_view();
  view.cls_only = true;
  while (auto b = batches()) {
    if (b->n == 0) continue;
    c10::InferenceMode inference;  // the batch's tensors only: nothing of it outlives the pass
    at::Tensor f = features(batch_images(*b), view).to(at::kDouble);
    sums.index_add_(0, batch_labels(*b) - first, f);
    for (int64_t l : b->labels) counts.at(static_cast<size_t>(l - first))++;
  }
  allreduce_sum(comm_, sums);
  comm_.allreduce_sum(counts.data(), counts.size());
  for (int64_t c = 0; c < k; ++c) {
    if (counts[c] == 0) throw std::runtime_error("class " + std::to_string(first + c) + " has no images");
    sums[c].div_(static_cast<double>(counts[c]));
  }
  if (counts_out) *counts_out = counts;
  return sums.to(at::kFloat);
}

void Learner::add_prototypes(const BatchSource& batches) {
  const int64_t first = plan_.first_class(task_), k = plan_.task_size(task_);
  at::Tensor means;
  std::vector<int64_t> counts;
  try {
    means = class_means(batches, first, first + k, &counts);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + " (training images of task " + std::to_string(task_ + 1) + ")");
  }
  prototypes_.narrow(0, first, k).copy_(means);
  for (int64_t c = 0; c < k; ++c) proto_counts_[first + c] = counts[c];
}

// Predictions are counted on the device (per task, by index_add), totals on the host
// from the labels: no per-batch synchronisation.
EvalResult Learner::evaluate(const BatchSource& batches, const EvalOptions& options) {
  at::NoGradGuard no_grad;
  const int64_t seen = plan_.end_class(task_), d = vit_.shape().dim;
  EvalResult r;
  r.total.assign(static_cast<size_t>(task_ + 1), 0);
  std::vector<int64_t> task_of(static_cast<size_t>(seen));
  for (int64_t c = 0; c < seen; ++c) task_of[static_cast<size_t>(c)] = plan_.task_of_class(c);
  const at::Tensor task_of_class = at::tensor(task_of, at::kLong).to(device_);
  const bool alt = options.alt_prototypes.defined();
  if (alt && (options.alt_prototypes.dim() != 2 || options.alt_prototypes.size(0) != seen))
    throw std::invalid_argument("evaluate: alt_prototypes must be " + std::to_string(seen) + " x d");
  at::Tensor correct = at::zeros({task_ + 1}, on_device(at::kLong));
  at::Tensor ncm_correct = at::zeros({task_ + 1}, on_device(at::kLong));
  at::Tensor alt_correct = at::zeros({task_ + 1}, on_device(at::kLong));
  const bool heads = predicts_with_heads();
  model::ForwardOptions view = eval_view();
  view.cls_only = true;
  at::Tensor sums = options.class_means ? at::zeros({seen, d}, on_device(at::kDouble)) : at::Tensor();
  std::vector<int64_t> class_counts(options.class_means ? static_cast<size_t>(seen) : 0, 0);
  at::Tensor protos = prototypes_.narrow(0, 0, seen);
  at::Tensor alt_protos = alt ? to_device(options.alt_prototypes.to(at::kFloat)) : at::Tensor();
  while (auto b = batches()) {
    if (b->n == 0) continue;
    c10::InferenceMode inference;  // the batch's tensors only (the counts and sums are not)
    const at::Tensor labels = batch_labels(*b);
    const at::Tensor feats = features(batch_images(*b), view);
    const at::Tensor tasks = task_of_class.index_select(0, labels);
    const at::Tensor ncm_hits = ncm_predict(feats, protos).eq(labels).to(at::kLong);
    ncm_correct.index_add_(0, tasks, ncm_hits);
    if (heads) {
      at::NoGradGuard ng;
      correct.index_add_(0, tasks, logits(feats).argmax(1).eq(labels).to(at::kLong));
    }
    if (alt) alt_correct.index_add_(0, tasks, ncm_predict(feats, alt_protos).eq(labels).to(at::kLong));
    if (options.class_means) {
      sums.index_add_(0, labels, feats.to(at::kDouble));
      for (int64_t l : b->labels) class_counts.at(static_cast<size_t>(l))++;
    }
    for (int64_t l : b->labels) r.total.at(static_cast<size_t>(plan_.task_of_class(l)))++;
  }
  if (heads) allreduce_sum(comm_, correct);
  allreduce_sum(comm_, ncm_correct);
  comm_.allreduce_sum(r.total.data(), r.total.size());
  auto host_counts = [](const at::Tensor& t) {
    at::Tensor h = t.to(at::kCPU);
    return std::vector<int64_t>(h.data_ptr<int64_t>(), h.data_ptr<int64_t>() + h.numel());
  };
  r.ncm_correct = host_counts(ncm_correct);
  r.correct = heads ? host_counts(correct) : r.ncm_correct;
  if (alt) {
    allreduce_sum(comm_, alt_correct);
    r.alt_correct = host_counts(alt_correct);
  }
  if (options.class_means) {
    allreduce_sum(comm_, sums);
    comm_.allreduce_sum(class_counts.data(), class_counts.size());
    for (int64_t c = 0; c < seen; ++c)
      if (class_counts[static_cast<size_t>(c)] > 0)
        sums[c].div_(static_cast<double>(class_counts[static_cast<size_t>(c)]));
    r.class_means = sums.to(at::kFloat);
  }
  return r;
}

}  // namespace lorasub::method
