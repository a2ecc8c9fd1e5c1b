#include "lorasub/model/lora_bank.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "lorasub/core/rng.h"

namespace lorasub::model {
namespace {

at::Tensor init_a(int64_t r, int64_t d, Rng& rng) {
  at::Tensor a = at::empty({r, d}, at::kFloat);
  const double bound = 1.0 / std::sqrt(static_cast<double>(d));
  float* p = a.data_ptr<float>();
  for (int64_t i = 0; i < a.numel(); ++i) p[i] = static_cast<float>(rng.uniform(-bound, bound));
  return a;
}

at::Tensor init_b(int64_t d, int64_t r, Rng& rng) {
  at::Tensor b = at::zeros({d, r}, at::kFloat);
  float* p = b.data_ptr<float>();
  for (int64_t col = 0; col < r; ++col) {
    const int64_t row = rng.below(d);
    p[row * r + col] = static_cast<float>(rng.normal(0.0, 0.01));
  }
  return b;
}

}  // namespace

LoraBank::LoraBank(const Vit& vit, int64_t rank, LoraTargets targets) : vit_(vit), rank_(rank), targets_(targets) {
  if (rank < 1 || rank > vit.shape().dim) throw std::invalid_argument("LoraBank: rank must be in [1, dim]");
}

void LoraBank::add_task(uint64_t seed, BInit b_init) {
  const int64_t d = vit_.shape().dim, t = num_tasks();
  TaskAdapters ta;
  for (int64_t i = 0; i < vit_.shape().depth; ++i) {
    KvAdapter a;
    for (uint64_t target = 0; target < 2; ++target) {
      Rng rng(Stream::kAdapterInit, {seed, static_cast<uint64_t>(t), static_cast<uint64_t>(i), target});
      at::Tensor A = init_a(rank_, d, rng);
      at::Tensor B = b_init == BInit::kZero ? at::zeros({d, rank_}, at::kFloat) : init_b(d, rank_, rng);
      (target == 0 ? a.a_k : a.a_v) = A;
      (target == 0 ? a.b_k : a.b_v) = B;
    }
    ta.blocks.push_back(std::move(a));
  }
  add_task(std::move(ta));
}

void LoraBank::add_task(TaskAdapters adapters) {
  if (static_cast<int64_t>(adapters.blocks.size()) != vit_.shape().depth)
    throw std::invalid_argument("LoraBank::add_task: one adapter per block expected");
  // Older tasks are frozen from now on.
  for (auto& task : tasks_)
    for (auto& a : task.blocks)
      for (at::Tensor* t : {&a.a_k, &a.b_k, &a.a_v, &a.b_v}) *t = t->detach();
  const at::Device device = vit_.device();
  for (auto& a : adapters.blocks)
    for (at::Tensor* t : {&a.a_k, &a.b_k, &a.a_v, &a.b_v}) {
      if (t->device() != device) *t = t->to(device);
      t->requires_grad_(true);
    }
  tasks_.push_back(std::move(adapters));
}

std::vector<at::Tensor> LoraBank::current_parameters() const {
  std::vector<at::Tensor> out;
  if (tasks_.empty()) return out;
  for (const auto& a : tasks_.back().blocks) out.insert(out.end(), {a.a_k, a.b_k, a.a_v, a.b_v});
  return out;
}

namespace {

// delta = B A of one target, in float64.
at::Tensor delta(const at::Tensor& b, const at::Tensor& a) {
  return at::matmul(b.detach().to(at::kDouble), a.detach().to(at::kDouble));
}

// W's k (or q) rows from first_row and its v rows plus the float64 sums, rounded once.
void add_to_rows(at::Tensor& w, int64_t first_row, int64_t d, const at::Tensor& d1, const at::Tensor& dv) {
  at::Tensor w1 = w.narrow(0, first_row, d), wv = w.narrow(0, 2 * d, d);
  w1.copy_((w1.to(at::kDouble) + d1).to(at::kFloat));
  wv.copy_((wv.to(at::kDouble) + dv).to(at::kFloat));
}

}  // namespace

std::vector<LoraBank::Stamp> LoraBank::stamp(int64_t task) const {
  std::vector<Stamp> out;
  for (const auto& a : tasks_.at(task).blocks)
    for (const at::Tensor* t : {&a.a_k, &a.b_k, &a.a_v, &a.b_v}) out.push_back({t->data_ptr(), t->_version()});
  return out;
}

void LoraBank::sum_deltas(int64_t upto) const {
  at::NoGradGuard no_grad;
  bool valid = upto >= summed_;
  for (int64_t s = 0; valid && s < summed_; ++s) {
    const std::vector<Stamp> now = stamp(s);
    for (size_t k = 0; valid && k < now.size(); ++k)
      valid = now[k].ptr == stamps_[s][k].ptr && now[k].version == stamps_[s][k].version;
  }
  const int64_t d = vit_.shape().dim;
  if (!valid || sum1_.empty()) {
    const auto f64 = vit_.blocks().front().qkv_w.options().dtype(at::kDouble);
    sum1_.clear();
    sumv_.clear();
    for (int64_t i = 0; i < vit_.shape().depth; ++i) {
      sum1_.push_back(at::zeros({d, d}, f64));
      sumv_.push_back(at::zeros({d, d}, f64));
    }
    stamps_.clear();
    summed_ = 0;
  }
  for (; summed_ < upto; ++summed_) {  // task order, as folded_qkv(upto, scale) adds them
    for (int64_t i = 0; i < vit_.shape().depth; ++i) {
      const KvAdapter& a = tasks_.at(summed_).blocks[i];
      sum1_[i] += 1.0 * delta(a.b_k, a.a_k);
      sumv_[i] += 1.0 * delta(a.b_v, a.a_v);
    }
    stamps_.push_back(stamp(summed_));
  }
}

std::vector<at::Tensor> LoraBank::folded_qkv(int64_t upto, int sign) const {
  at::NoGradGuard no_grad;
  // The current task may still train: it is added to a copy, never kept.
  const int64_t frozen = std::min(upto, std::max<int64_t>(num_tasks() - 1, 0));
  sum_deltas(frozen);
  const int64_t d = vit_.shape().dim;
  const int64_t first_row = targets_ == LoraTargets::kQueryValue ? 0 : d;
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < vit_.shape().depth; ++i) {
    at::Tensor w = vit_.blocks()[i].qkv_w.detach().clone();
    if (upto > 0) {
      at::Tensor d1 = sum1_[i], dv = sumv_[i];
      if (upto > frozen) {
        const KvAdapter& a = tasks_.at(frozen).blocks[i];
        d1 = d1 + 1.0 * delta(a.b_k, a.a_k);
        dv = dv + 1.0 * delta(a.b_v, a.a_v);
      }
      // sum_s (-delta_s) == -(sum_s delta_s) in IEEE arithmetic: the signed sum, exactly.
      add_to_rows(w, first_row, d, sign < 0 ? -d1 : d1, sign < 0 ? -dv : dv);
    }
    out.push_back(w);
  }
  return out;
}

std::vector<at::Tensor> LoraBank::folded_qkv(int64_t upto, const DeltaScale& scale) const {
  at::NoGradGuard no_grad;
  const int64_t d = vit_.shape().dim;
  const int64_t first_row = targets_ == LoraTargets::kQueryValue ? 0 : d;
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < vit_.shape().depth; ++i) {
    at::Tensor w = vit_.blocks()[i].qkv_w.detach().clone();
    if (upto > 0) {
      const auto f64 = w.options().dtype(at::kDouble);
      at::Tensor d1 = at::zeros({d, d}, f64), dv = at::zeros({d, d}, f64);
      for (int64_t s = 0; s < upto; ++s) {
        const KvAdapter& a = tasks_.at(s).blocks[i];
        d1 += scale(s, i, 0) * delta(a.b_k, a.a_k);
        dv += scale(s, i, 1) * delta(a.b_v, a.a_v);
      }
      add_to_rows(w, first_row, d, d1, dv);
    }
    out.push_back(w);
  }
  return out;
}

void LoraBank::clear() {
  tasks_.clear();
  refresh();
}

// The folds are made when a view first needs them: a method that never takes a view
// (the subtracted one outside LoRA-/DRS's covariance pass, all of them in SD-LoRA) never
// pays for it.
void LoraBank::refresh() {
  folded_.clear();
  current_ = num_tasks() > 0 ? tasks_.back().blocks : std::vector<KvAdapter>{};
}

const std::vector<at::Tensor>* LoraBank::fold(Fold which) const {
  auto it = folded_.find(which);
  if (it == folded_.end()) {
    const int64_t t = num_tasks(), old = std::max<int64_t>(t - 1, 0);
    std::vector<at::Tensor> w =
        which == Fold::kAll ? folded_qkv(t, +1) : folded_qkv(old, which == Fold::kOld ? +1 : -1);
    it = folded_.emplace(which, std::move(w)).first;
  }
  return &it->second;
}

const std::vector<KvAdapter>* LoraBank::current_adapters() const { return current_.empty() ? nullptr : &current_; }

ForwardOptions LoraBank::training_view() const {
  ForwardOptions o;
  o.adapt_query = targets_ == LoraTargets::kQueryValue;
  o.qkv_weights = fold(Fold::kOld);
  o.adapters = current_adapters();
  return o;
}

ForwardOptions LoraBank::subtracted_view() const {
  ForwardOptions o;
  o.qkv_weights = fold(Fold::kSubtracted);
  return o;
}

ForwardOptions LoraBank::full_view() const {
  ForwardOptions o;
  o.qkv_weights = fold(Fold::kAll);
  return o;
}

}  // namespace lorasub::model
