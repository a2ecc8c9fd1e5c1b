#include "lorasub/method/learner.h"

#include <ATen/ATen.h>

#include <cmath>
#include <stdexcept>

#include "lorasub/core/error.h"
#include "lorasub/core/rng.h"
#include "lorasub/method/covariance.h"
#include "lorasub/method/ncm.h"
#include "lorasub/method/normalize.h"
#include "lorasub/method/schedule.h"
#include "lorasub/method/triplet_loss.h"

namespace lorasub::method {
namespace {

// torch.nn.Linear default init: U(+-1/sqrt(fan_in)) for weight and bias.
Head init_head(int64_t classes, int64_t d, uint64_t seed, int64_t task) {
  Rng rng(Stream::kHeadInit, {seed, static_cast<uint64_t>(task)});
  const double bound = 1.0 / std::sqrt(static_cast<double>(d));
  Head h{at::empty({classes, d}, at::kFloat), at::empty({classes}, at::kFloat)};
  for (at::Tensor* t : {&h.weight, &h.bias}) {
    float* p = t->data_ptr<float>();
    for (int64_t i = 0; i < t->numel(); ++i) p[i] = static_cast<float>(rng.uniform(-bound, bound));
    t->requires_grad_(true);
  }
  return h;
}

at::Tensor labels_tensor(const data::Batch& b) {
  return at::from_blob(const_cast<int64_t*>(b.labels.data()), {b.n}, at::kLong);
}

}  // namespace

double EvalResult::overall() const {
  int64_t c = 0, t = 0;
  for (size_t i = 0; i < total.size(); ++i) { c += correct[i]; t += total[i]; }
  return t > 0 ? 100.0 * static_cast<double>(c) / static_cast<double>(t) : 0.0;
}

std::vector<double> EvalResult::per_task() const {
  std::vector<double> out;
  for (size_t i = 0; i < total.size(); ++i)
    out.push_back(total[i] > 0 ? 100.0 * static_cast<double>(correct[i]) / static_cast<double>(total[i]) : 0.0);
  return out;
}

Learner::Learner(const model::Vit& vit, const Config& cfg, const data::TaskPlan& plan,
                 dist::Communicator& comm)
    : vit_(vit), cfg_(cfg), plan_(plan), comm_(comm), bank_(vit, cfg.method.rank),
      prototypes_(at::zeros({plan.num_classes(), vit.shape().dim}, at::kFloat)),
      proto_counts_(static_cast<size_t>(plan.num_classes()), 0) {}

bool Learner::projects() const { return cfg_.drs.project; }
double Learner::atl_weight() const { return cfg_.loss.atl_weight; }

at::Tensor Learner::batch_images(const data::Batch& b) const {
  return at::from_blob(const_cast<float*>(b.pixels.data()), {b.n, b.channels, b.height, b.width},
                       at::kFloat);
}

void Learner::begin_task(int64_t t, const BatchSource& covariance_batches) {
  if (t != task_ + 1) throw std::logic_error("Learner::begin_task: tasks must come in order");
  task_ = t;
  trained_ = false;
  bank_.add_task(cfg_.run.seed);
  heads_.push_back(init_head(plan_.task_size(t), vit_.shape().dim, cfg_.run.seed, t));
  bank_.refresh();
  projectors_.clear();
  kept_dims_.assign(static_cast<size_t>(vit_.shape().depth), vit_.shape().dim);
  if (t >= 1 && projects()) covariance_pass(covariance_batches);
  build_optimizer();
}

void Learner::covariance_pass(const BatchSource& batches) {
  at::NoGradGuard no_grad;
  const auto& s = vit_.shape();
  CovarianceAccumulator acc(s.depth, s.dim);
  model::ForwardOptions view = cfg_.drs.subtract ? bank_.subtracted_view() : bank_.training_view();
  view.adapters = nullptr;  // delta_t is neither added nor subtracted
  view.on_ln1 = [&acc](int64_t block, const at::Tensor& z) { acc.add(block, z); };
  while (auto b = batches()) {
    if (b->n > 0) vit_.features(batch_images(*b), view);
  }
  acc.allreduce(comm_);
  for (int64_t i = 0; i < s.depth; ++i) {
    projectors_.push_back(make_projector(acc.covariance(i), cfg_.drs.energy));
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
// feature, and the per-feature gradients are summed across ranks.
at::Tensor Learner::atl_feature_grad(const at::Tensor& feats, const at::Tensor& labels,
                                     double* atl_sum_local) {
  const int64_t d = vit_.shape().dim, n = feats.size(0);
  std::vector<int64_t> counts = comm_.allgather(n);
  std::vector<size_t> fcounts, lcounts;
  int64_t total = 0, offset = 0;
  for (int r = 0; r < comm_.size(); ++r) {
    if (r == comm_.rank()) offset = total;
    total += counts[r];
    fcounts.push_back(static_cast<size_t>(counts[r] * d));
    lcounts.push_back(static_cast<size_t>(counts[r]));
  }
  at::Tensor fl = feats.detach().contiguous();
  at::Tensor gathered = at::empty({total, d}, at::kFloat);
  comm_.allgatherv(fl.data_ptr<float>(), static_cast<size_t>(n * d), gathered.data_ptr<float>(), fcounts);
  at::Tensor lab_f = labels.to(at::kFloat).contiguous();
  at::Tensor lab_all = at::empty({total}, at::kFloat);
  comm_.allgatherv(lab_f.data_ptr<float>(), static_cast<size_t>(n), lab_all.data_ptr<float>(), lcounts);
  gathered.requires_grad_(true);
  at::Tensor atl = triplet_loss_sum(gathered, lab_all.to(at::kLong), old_prototypes_normalized(),
                                    cfg_.loss.margin, offset, offset + n);
  *atl_sum_local = atl.item<double>();
  at::Tensor g = at::zeros({total, d}, at::kFloat);
  if (n > 0) {
    (atl * (atl_weight() / static_cast<double>(total))).backward();
    g = gathered.grad().contiguous();
  }
  comm_.allreduce_sum(g.data_ptr<float>(), static_cast<size_t>(g.numel()));
  return g.narrow(0, offset, n);
}

StepResult Learner::train_step(const data::Batch& local, int64_t global_batch, bool stop_request) {
  const Head& head = heads_.back();
  const int64_t known = plan_.first_class(task_);
  double ce_sum = 0.0, atl_sum = 0.0;
  at::Tensor feats = local.n > 0 ? vit_.features(batch_images(local), bank_.training_view())
                                 : at::zeros({0, vit_.shape().dim}, at::kFloat);
  at::Tensor labels = labels_tensor(local);
  at::Tensor loss = feats.sum() * 0.0;
  if (local.n > 0) {
    at::Tensor ce = at::cross_entropy_loss(at::linear(feats, head.weight, head.bias), labels - known,
                                           {}, at::Reduction::Sum);
    ce_sum = ce.item<double>();
    loss = ce / static_cast<double>(global_batch);
  }
  if (atl_weight() > 0.0) {
    at::Tensor g = atl_feature_grad(feats, labels, &atl_sum);
    if (local.n > 0) loss = loss + (feats * g).sum();
  }
  if (local.n > 0) loss.backward();
  std::vector<float> control = {stop_request ? 1.0f : 0.0f, static_cast<float>(ce_sum),
                                static_cast<float>(atl_sum)};
  std::vector<float> sums = sync_->allreduce(comm_, control);
  if (!sync_->finite()) {
    for (auto& p : adam_->params()) p.param.mutable_grad() = at::Tensor();
    throw NonFiniteError("non-finite loss or gradient in task " + std::to_string(task_) +
                         " (CE sum " + std::to_string(sums[kSlotCeSum]) + ", ATL sum " +
                         std::to_string(sums[kSlotAtlSum]) + "); the optimizer step was not taken");
  }
  adam_->step(lrs_);
  for (auto& p : adam_->params()) p.param.mutable_grad() = at::Tensor();
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

namespace {
at::Tensor copy_of(const at::Tensor& t) { return t.detach().clone(); }
}  // namespace

LearnerState Learner::state() const {
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
  for (const auto& p : projectors_) s.projectors.push_back(copy_of(p.p));
  s.kept_dims = kept_dims_;
  if (adam_) {
    s.adam_steps = adam_->steps();
    for (const auto& p : adam_->params()) {
      s.adam_m.push_back(copy_of(p.m));
      s.adam_v.push_back(copy_of(p.v));
    }
  }
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
  if (static_cast<int64_t>(s.kept_dims.size()) != shape.depth) fail("kept_dims must have one entry per block");
  bank_.clear();
  for (int64_t t = 0; t <= s.task; ++t) {
    model::TaskAdapters ta;
    for (const auto& b : s.adapters[t].blocks)
      ta.blocks.push_back({copy_of(b.a_k), copy_of(b.b_k), copy_of(b.a_v), copy_of(b.b_v)});
    bank_.add_task(std::move(ta));
  }
  bank_.refresh();
  heads_.clear();
  for (int64_t t = 0; t <= s.task; ++t) {
    Head h{copy_of(s.heads[t].weight), copy_of(s.heads[t].bias)};
    if (h.weight.size(0) != plan_.task_size(t)) fail("head " + std::to_string(t) + " has the wrong number of classes");
    if (t == s.task) {
      h.weight.requires_grad_(true);
      h.bias.requires_grad_(true);
    }
    heads_.push_back(std::move(h));
  }
  prototypes_ = copy_of(s.prototypes);
  proto_counts_ = s.proto_counts;
  projectors_.clear();
  for (const auto& p : s.projectors) projectors_.push_back(DrsProjector{copy_of(p), 0});
  kept_dims_ = s.kept_dims;
  for (size_t i = 0; i < projectors_.size(); ++i) projectors_[i].kept = kept_dims_.at(i);
  task_ = s.task;
  trained_ = s.trained;
  build_optimizer();
  if (!s.adam_m.empty()) {
    auto& ps = adam_->params();
    if (s.adam_m.size() != ps.size() || s.adam_v.size() != ps.size()) fail("optimizer moments do not match the parameters");
    for (size_t i = 0; i < ps.size(); ++i) {
      if (!s.adam_m[i].sizes().equals(ps[i].m.sizes()) || !s.adam_v[i].sizes().equals(ps[i].v.sizes()))
        fail("optimizer moment " + std::to_string(i) + " has the wrong shape");
      ps[i].m = copy_of(s.adam_m[i]);
      ps[i].v = copy_of(s.adam_v[i]);
    }
  }
  adam_->set_steps(s.adam_steps);
}

void Learner::add_prototypes(const BatchSource& batches) {
  at::NoGradGuard no_grad;
  const int64_t first = plan_.first_class(task_), k = plan_.task_size(task_), d = vit_.shape().dim;
  at::Tensor sums = at::zeros({k, d}, at::kDouble);
  std::vector<int64_t> counts(static_cast<size_t>(k), 0);
  while (auto b = batches()) {
    if (b->n == 0) continue;
    at::Tensor f = vit_.features(batch_images(*b), bank_.full_view()).to(at::kDouble);
    at::Tensor idx = labels_tensor(*b) - first;
    sums.index_add_(0, idx, f);
    for (int64_t l : b->labels) counts.at(static_cast<size_t>(l - first))++;
  }
  comm_.allreduce_sum(sums.data_ptr<double>(), static_cast<size_t>(sums.numel()));
  comm_.allreduce_sum(counts.data(), counts.size());
  for (int64_t c = 0; c < k; ++c) {
    if (counts[c] == 0) throw std::runtime_error("class " + std::to_string(first + c) + " has no training images");
    prototypes_[first + c].copy_((sums[c] / static_cast<double>(counts[c])).to(at::kFloat));
    proto_counts_[first + c] = counts[c];
  }
}

EvalResult Learner::evaluate(const BatchSource& batches) {
  at::NoGradGuard no_grad;
  const int64_t seen = plan_.end_class(task_);
  EvalResult r;
  r.correct.assign(static_cast<size_t>(task_ + 1), 0);
  r.total.assign(static_cast<size_t>(task_ + 1), 0);
  at::Tensor protos = prototypes_.narrow(0, 0, seen);
  while (auto b = batches()) {
    if (b->n == 0) continue;
    at::Tensor pred = ncm_predict(vit_.features(batch_images(*b), bank_.full_view()), protos);
    const int64_t* p = pred.data_ptr<int64_t>();
    for (int64_t i = 0; i < b->n; ++i) {
      const int64_t task = plan_.task_of_class(b->labels[i]);
      r.total.at(task)++;
      if (p[i] == b->labels[i]) r.correct.at(task)++;
    }
  }
  comm_.allreduce_sum(r.correct.data(), r.correct.size());
  comm_.allreduce_sum(r.total.data(), r.total.size());
  return r;
}

std::unique_ptr<Learner> make_learner(const model::Vit& vit, const Config& cfg,
                                      const data::TaskPlan& plan, dist::Communicator& comm) {
  if (cfg.method.name == "seq-lora") return std::make_unique<SeqLoraLearner>(vit, cfg, plan, comm);
  return std::make_unique<Learner>(vit, cfg, plan, comm);
}

}  // namespace lorasub::method
