#include "lorasub/method/learner.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <stdexcept>

#include "lorasub/core/error.h"
#include "lorasub/core/rng.h"
#include "lorasub/data/sampler.h"
#include "lorasub/model/autocast.h"
#include "lorasub/method/covariance.h"
#include "lorasub/method/ncm.h"
#include "lorasub/method/normalize.h"
#include "lorasub/method/schedule.h"
#include "lorasub/method/tensor_comm.h"
#include "lorasub/method/triplet_loss.h"

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

Learner::Learner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan, dist::Communicator& comm)
    : vit_(vit),
      cfg_(cfg),
      plan_(plan),
      comm_(comm),
      device_(vit.device()),
      bf16_(cfg.train.precision == "bf16"),
      bank_(vit, cfg.method.rank),
      prototypes_(at::zeros({plan.num_classes(), vit.shape().dim}, on_device(at::kFloat))),
      proto_counts_(static_cast<size_t>(plan.num_classes()), 0) {}

at::TensorOptions Learner::on_device(at::ScalarType type) const { return at::TensorOptions(type).device(device_); }

bool Learner::projects() const { return cfg_.drs.project; }
double Learner::atl_weight() const { return cfg_.loss.atl_weight; }

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
  return vit_.features(images, view).to(at::kFloat);
}

void Learner::begin_task(int64_t t, const BatchSource& covariance_batches) {
  if (t != task_ + 1) throw std::logic_error("Learner::begin_task: tasks must come in order");
  task_ = t;
  trained_ = false;
  if (trains()) {
    bank_.add_task(cfg_.run.seed);
  } else {  // a frozen backbone: adapters with a zero delta (the reference's B init is not 0)
    model::TaskAdapters zero;
    const int64_t d = vit_.shape().dim, r = cfg_.method.rank;
    for (int64_t i = 0; i < vit_.shape().depth; ++i)
      zero.blocks.push_back({at::zeros({r, d}), at::zeros({d, r}), at::zeros({r, d}), at::zeros({d, r})});
    bank_.add_task(std::move(zero));
  }
  heads_.push_back(init_head(plan_.task_size(t), vit_.shape().dim, cfg_.run.seed, t, device_));
  bank_.refresh();
  projectors_.clear();
  kept_dims_.assign(static_cast<size_t>(vit_.shape().depth), vit_.shape().dim);
  if (t >= 1 && projects()) covariance_pass(covariance_batches);
  build_optimizer();
}

void Learner::covariance_pass(const BatchSource& batches) {
  at::NoGradGuard no_grad;
  const auto& s = vit_.shape();
  CovarianceAccumulator acc(s.depth, s.dim, device_);
  model::ForwardOptions view = cfg_.drs.subtract ? bank_.subtracted_view() : bank_.training_view();
  view.adapters = nullptr;  // delta_t is neither added nor subtracted
  view.on_ln1 = [&acc](int64_t block, const at::Tensor& z) { acc.add(block, z); };
  while (auto b = batches()) {
    if (b->n > 0) features(batch_images(*b), view);
  }
  acc.allreduce(comm_);
  for (int64_t i = 0; i < s.depth; ++i) {
    projectors_.push_back(make_projector(acc.covariance(i), cfg_.drs.energy));  // eigh on the host
    kept_dims_[i] = projectors_.back().kept;
  }
}

void Learner::build_optimizer() {
  adam_ = std::make_unique<ProjectedAdam>();
  std::vector<at::Tensor> params = bank_.current_parameters();
  const bool project = !projectors_.empty();
  for (size_t i = 0; i < params.size(); ++i) {
    const size_t block = i / 4;
    const bool is_a = (i % 2) == 0;  // order per block: A_k, B_k, A_v, B_v
    if (project)
      adam_->add(params[i], 0, is_a ? ProjectSide::kRight : ProjectSide::kLeft, projectors_[block].p);
    else
      adam_->add(params[i], 0);
  }
  adam_->add(heads_.back().weight, 1);
  adam_->add(heads_.back().bias, 1);
  params.push_back(heads_.back().weight);
  params.push_back(heads_.back().bias);
  sync_ = std::make_unique<GradSync>(params);
}

void Learner::begin_epoch(int64_t epoch) {
  const double mult = lr_multiplier(epoch, cfg_.train.epochs);
  const double base = task_ == 0 ? cfg_.train.init_lr : cfg_.train.lrate;
  lrs_ = {base * mult, cfg_.train.fc_lrate * mult};
}

at::Tensor Learner::old_prototypes_normalized() const {
  const int64_t known = plan_.first_class(task_);
  if (known == 0) return {};
  return l2_normalize(prototypes_.narrow(0, 0, known), 1e-12);
}

// Gradient of lambda * ATL(global batch) w.r.t. this rank's features: features are
// all-gathered, each rank differentiates the loss of its own anchors w.r.t. every
// feature, and the per-feature gradients are summed across ranks. Every rank's share of
// the global batch follows from the sampler's shard rule, so no sizes are exchanged.
at::Tensor Learner::atl_feature_grad(const at::Tensor& feats, const at::Tensor& labels, int64_t global_batch,
                                     at::Tensor* atl_sum_local) {
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
    (atl * (atl_weight() / static_cast<double>(global_batch))).backward();
    g = gathered.grad().contiguous();
  }
  allreduce_sum(comm_, g);
  return g.narrow(0, offset, n);
}

StepResult Learner::train_step(const data::Batch& local, int64_t global_batch, bool stop_request) {
  const Head& head = heads_.back();
  const int64_t known = plan_.first_class(task_);
  sync_->zero();
  at::Tensor feats = local.n > 0 ? features(batch_images(local), bank_.training_view())
                                 : at::zeros({0, vit_.shape().dim}, on_device(at::kFloat));
  at::Tensor labels = batch_labels(local);
  at::Tensor loss, ce_sum, atl_sum;
  if (local.n > 0) {
    at::Tensor ce =
        at::cross_entropy_loss(at::linear(feats, head.weight, head.bias), labels - known, {}, at::Reduction::Sum);
    ce_sum = ce.detach();
    loss = ce / static_cast<double>(global_batch);
  }
  if (atl_weight() > 0.0) {
    at::Tensor g = atl_feature_grad(feats, labels, global_batch, &atl_sum);
    if (local.n > 0) loss = loss + (feats * g).sum();
  }
  if (local.n > 0) loss.backward();
  const at::Tensor stop = at::full({1}, stop_request ? 1.0f : 0.0f, at::kFloat);
  std::vector<float> sums = sync_->allreduce(comm_, {stop, ce_sum, atl_sum});
  if (!sync_->finite()) {
    throw NonFiniteError("non-finite loss or gradient in task " + std::to_string(task_) + " (CE sum " +
                         std::to_string(sums[kSlotCeSum]) + ", ATL sum " + std::to_string(sums[kSlotAtlSum]) +
                         "); the optimizer step was not taken");
  }
  adam_->step(lrs_);
  StepResult r;
  r.ce = sums[kSlotCeSum] / static_cast<double>(global_batch);
  r.atl = sums[kSlotAtlSum] / static_cast<double>(global_batch);
  r.loss = r.ce + atl_weight() * r.atl;
  r.stop = sums[kSlotStop] > 0.0f;
  r.allreduce_seconds = sync_->last_seconds();
  return r;
}

void Learner::end_training() {
  bank_.refresh();
  trained_ = true;
}

at::Tensor Learner::class_means(const BatchSource& batches, int64_t first, int64_t end,
                                std::vector<int64_t>* counts_out) {
  at::NoGradGuard no_grad;
  const int64_t k = end - first, d = vit_.shape().dim;
  at::Tensor sums = at::zeros({k, d}, on_device(at::kDouble));
  std::vector<int64_t> counts(static_cast<size_t>(k), 0);
  while (auto b = batches()) {
    if (b->n == 0) continue;
    at::Tensor f = features(batch_images(*b), bank_.full_view()).to(at::kDouble);
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
  at::Tensor alt_correct = at::zeros({task_ + 1}, on_device(at::kLong));
  at::Tensor sums = options.class_means ? at::zeros({seen, d}, on_device(at::kDouble)) : at::Tensor();
  std::vector<int64_t> class_counts(options.class_means ? static_cast<size_t>(seen) : 0, 0);
  at::Tensor protos = prototypes_.narrow(0, 0, seen);
  at::Tensor alt_protos = alt ? to_device(options.alt_prototypes.to(at::kFloat)) : at::Tensor();
  while (auto b = batches()) {
    if (b->n == 0) continue;
    const at::Tensor labels = batch_labels(*b);
    const at::Tensor feats = features(batch_images(*b), bank_.full_view());
    const at::Tensor tasks = task_of_class.index_select(0, labels);
    correct.index_add_(0, tasks, ncm_predict(feats, protos).eq(labels).to(at::kLong));
    if (alt) alt_correct.index_add_(0, tasks, ncm_predict(feats, alt_protos).eq(labels).to(at::kLong));
    if (options.class_means) {
      sums.index_add_(0, labels, feats.to(at::kDouble));
      for (int64_t l : b->labels) class_counts.at(static_cast<size_t>(l))++;
    }
    for (int64_t l : b->labels) r.total.at(static_cast<size_t>(plan_.task_of_class(l)))++;
  }
  allreduce_sum(comm_, correct);
  comm_.allreduce_sum(r.total.data(), r.total.size());
  auto host_counts = [](const at::Tensor& t) {
    at::Tensor h = t.to(at::kCPU);
    return std::vector<int64_t>(h.data_ptr<int64_t>(), h.data_ptr<int64_t>() + h.numel());
  };
  r.correct = host_counts(correct);
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

std::unique_ptr<Learner> make_learner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan,
                                      dist::Communicator& comm) {
  if (cfg.method.name == "seq-lora") return std::make_unique<SeqLoraLearner>(vit, cfg, plan, comm);
  if (cfg.method.name == "ncm") return std::make_unique<NcmLearner>(vit, cfg, plan, comm);
  return std::make_unique<Learner>(vit, cfg, plan, comm);
}

}  // namespace lorasub::method
