// One task of the run: its phases (covariance pass and projector, training epochs,
// prototypes, drift and evaluation, the task-end record and checkpoint) and the steps.
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>

#include "lorasub/core/error.h"
#include "lorasub/core/heap.h"
#include "lorasub/data/sampler.h"
#include "lorasub/train/progress.h"
#include "lorasub/train/signals.h"
#include "lorasub/train/trainer.h"

namespace lorasub::train {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
double now_seconds() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

// Stream-key epochs for the passes that are not training epochs.
constexpr int64_t kCovarianceEpoch = 1 << 20;
constexpr int64_t kAfterTrainingEpoch = kCovarianceEpoch + 1;

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), f, a, b, c);
  return buf;
}

}  // namespace

Trainer::TaskLoaders Trainer::task_loaders() const {
  const int workers = static_cast<int>(cfg_.data.workers), prefetch = static_cast<int>(cfg_.data.prefetch);
  const data::SmallImageTransform augment{true, cfg_.data.crop_padding, cfg_.data.flip}, plain{};
  return {data::make_loader(data_, false, augment, workers, prefetch, pinned_.get()),
          data::make_loader(data_, false, plain, workers, prefetch, pinned_.get()),
          data::make_loader(data_, true, plain, workers, prefetch, pinned_.get())};
}

// Started at the first call: a pass the learner does not take costs nothing.
method::BatchSource Trainer::batches(data::Loader& loader, int64_t t, const std::vector<int64_t>& idx, int64_t bs,
                                     int64_t epoch) const {
  auto started = std::make_shared<bool>(false);
  return method::BatchSource([this, &loader, t, idx, bs, epoch, started]() {
    if (!*started) {
      data::GlobalSampler s(idx, bs, cfg_.run.seed, t, false);
      loader.start(s.rank_batches(0, world_.rank, world_.size), data::StreamKey{cfg_.run.seed, t, epoch});
      *started = true;
    }
    return loader.next();
  });
}

void Trainer::run_task(int64_t t) {
  const bool mid = resumed_mid_task_ && t == start_task_;
  if (!mid) {
    state_.current = PhaseSeconds{};
    state_.current_step_seconds = 0;
    state_.current_steps = 0;
  }
  const auto train_idx = data::TaskPlan::indices_in_range(data_.train.labels, plan_.first_class(t), plan_.end_class(t));
  const auto test_idx = data::TaskPlan::indices_in_range(data_.test.labels, 0, plan_.end_class(t));
  TaskLoaders loaders = task_loaders();
  metrics_.task_started(t, plan_.num_tasks());
  auto c0 = Clock::now();
  if (!mid) {
    // The pre-task pass takes no step: evaluation-sized batches (the sums do not depend on them).
    learner_->begin_task(t, batches(*loaders.augmented, t, train_idx, cfg_.train.eval_batch_size, kCovarianceEpoch));
    state_.current.covariance = since(c0);
    state_.current.projector = learner_->projector_seconds();
    return_free_heap_memory();  // the covariance sums and decompositions are gone
    metrics_.covariance_pass(t, state_.current.covariance);
  }
  metrics_.drs_kept(learner_->kept_dims());
  c0 = Clock::now();
  const double train_before = state_.current.train;
  if (!(mid && learner_->trained())) {
    if (learner_->trains()) train_epochs(t, train_idx, *loaders.augmented);
    learner_->end_training(
        batches(*loaders.augmented, t, train_idx, cfg_.train.eval_batch_size, kAfterTrainingEpoch));
  }
  state_.current.train = train_before + since(c0);
  c0 = Clock::now();
  learner_->add_prototypes(batches(*loaders.plain_train, t, train_idx, cfg_.train.eval_batch_size, 0));
  state_.current.prototypes = since(c0);
  return_free_heap_memory();  // the training step's and the folds' buffers are gone
  const method::EvalResult ev = evaluate_task(t, loaders, test_idx);
  record_task(t, ev);
}

at::Tensor Trainer::drift_prototypes(int64_t t, data::Loader& plain_train) {
  const int64_t bs = cfg_.train.eval_batch_size, first = plan_.first_class(t), end = plan_.end_class(t);
  const at::Tensor stored = learner_->prototypes().narrow(0, 0, end);
  if (cfg_.train.drift_full) {
    if (t == 0) return {};
    const auto old_idx = data::TaskPlan::indices_in_range(data_.train.labels, 0, first);
    at::Tensor fresh = stored.clone();
    fresh.narrow(0, 0, first).copy_(learner_->class_means(batches(plain_train, t, old_idx, bs, 0), 0, first));
    return fresh;
  }
  std::vector<int64_t> idx;
  for (int64_t c = 0; c < end; ++c)
    idx.insert(idx.end(), drift_sample_.at(static_cast<size_t>(c)).begin(), drift_sample_[static_cast<size_t>(c)].end());
  std::sort(idx.begin(), idx.end());
  const at::Tensor now = learner_->class_means(batches(plain_train, t, idx, bs, 0), 0, end);
  at::Tensor fresh = drift_.fresh_from_sample(t, stored, now);  // also task t's reference
  return t > 0 ? fresh : at::Tensor();
}

method::EvalResult Trainer::evaluate_task(int64_t t, TaskLoaders& loaders, const std::vector<int64_t>& test_idx) {
  method::EvalOptions opt;
  opt.class_means = cfg_.train.drift;
  auto c0 = Clock::now();
  if (cfg_.train.drift) opt.alt_prototypes = drift_prototypes(t, *loaders.plain_train);
  state_.current.drift = since(c0);
  c0 = Clock::now();
  method::EvalResult ev =
      learner_->evaluate(batches(*loaders.plain_test, t, test_idx, cfg_.train.eval_batch_size, 0), opt);
  state_.current.eval = since(c0);
  if (cfg_.train.drift) {
    const auto records =
        drift_.measure(t, ev.class_means, ev.ncm_per_task(), t > 0 ? ev.alt_per_task() : ev.ncm_per_task());
    drift_.remember(t, ev.class_means);
    state_.summary.drift.insert(state_.summary.drift.end(), records.begin(), records.end());
    for (const auto& r : records) metrics_.feature_drift(r.task, r.mean_cosine_distance, r.stale_accuracy_drop / 100.0);
  }
  return ev;
}

void Trainer::record_task(int64_t t, const method::EvalResult& ev) {
  TrainSummary& s = state_.summary;
  s.accuracy.add_row(ev.per_task(), ev.overall());
  if (metrics_.enabled()) {  // accuracies are percent here, ratios in the metrics
    std::vector<double> row = ev.per_task();
    for (double& a : row) a /= 100.0;
    metrics_.task_finished(t, row, s.accuracy.a_last() / 100.0, s.accuracy.a_avg() / 100.0,
                           s.accuracy.forgetting() / 100.0);
  }
  s.kept.push_back(learner_->kept_dims());
  s.step_seconds.push_back(
      state_.current_steps > 0 ? state_.current_step_seconds / static_cast<double>(state_.current_steps) : 0.0);
  s.seconds.push_back(state_.current);
  const auto c0 = Clock::now();
  last_checkpoint_bytes_ = 0;
  if (cfg_.ckpt.task_end) checkpoint_timed("task_end", t, 0, 0, true);
  s.seconds.back().checkpoint = since(c0);
  return_free_heap_memory();
  s.resources.push_back({t, obs::peak_resident_memory_bytes(), obs::resident_memory_bytes(), last_checkpoint_bytes_});
  const PhaseSeconds& sec = s.seconds.back();
  Progress::line(world_.is_root(),
                 "task " + std::to_string(t + 1) + "/" + std::to_string(plan_.num_tasks()) +
                     fmt(": A_t %.2f%%  (cov %.1fs, train %.1fs, ", ev.overall(), sec.covariance, sec.train) +
                     fmt("protos %.1fs, eval %.1fs, ", sec.prototypes, sec.eval) +
                     fmt("drift %.1fs, ckpt %.1fs)", sec.drift, sec.checkpoint));
}

void Trainer::train_epochs(int64_t t, const std::vector<int64_t>& indices, data::Loader& loader) {
  const int64_t epochs = t == 0 ? cfg_.train.init_epochs : cfg_.train.epochs;
  const bool mid = resumed_mid_task_ && t == start_task_;
  data::GlobalSampler sampler(indices, cfg_.train.batch_size, cfg_.run.seed, t, true);
  Progress progress(world_.is_root(), cfg_.train.log_every);
  const auto train_start = Clock::now();
  const double train_before = state_.current.train;
  for (int64_t e = mid ? resume_epoch_ : 0; e < epochs; ++e) {
    const int64_t first = (mid && e == resume_epoch_) ? resume_batch_ : 0;
    learner_->begin_epoch(e);
    metrics_.epoch(e, epochs);
    std::vector<std::vector<int64_t>> batches = sampler.rank_batches(e, world_.rank, world_.size);
    batches.erase(batches.begin(), batches.begin() + std::min<int64_t>(first, static_cast<int64_t>(batches.size())));
    loader.start(std::move(batches), data::StreamKey{cfg_.run.seed, t, e});
    progress.begin("task " + std::to_string(t + 1) + "/" + std::to_string(plan_.num_tasks()) + " epoch " +
                       std::to_string(e + 1) + "/" + std::to_string(epochs),
                   sampler.num_batches());
    double last_loss = 0;
    for (int64_t b = first; b < sampler.num_batches(); ++b) {
      std::optional<data::Batch> batch = loader.next();
      if (!batch) throw std::logic_error("loader ended before the epoch did");
      const int64_t gb = sampler.batch_size(b);
      const method::StepResult r = train_step(t, e, b, *batch, gb);
      metrics_.task_progress(static_cast<double>(e * sampler.num_batches() + b + 1) /
                             static_cast<double>(std::max<int64_t>(1, epochs * sampler.num_batches())));
      last_loss = r.loss;
      progress.step(b + 1, r.loss, gb);
      state_.current.train = train_before + since(train_start);
      // Position after this step: the next batch, or the next epoch's first.
      const bool last_batch = b + 1 == sampler.num_batches();
      const int64_t ne = last_batch ? e + 1 : e, nb = last_batch ? 0 : b + 1;
      if (r.stop) {
        progress.end(last_loss);
        stop_now(t, ne, nb, false);
      }
      const bool by_steps = cfg_.ckpt.every_steps > 0 && global_step_ % cfg_.ckpt.every_steps == 0;
      const bool by_time = world_.is_root() && cfg_.ckpt.every_minutes > 0 &&
                           now_seconds() - last_ckpt_time_ >= 60.0 * cfg_.ckpt.every_minutes;
      if (by_steps || by_time) checkpoint_timed("step", t, ne, nb, false);
    }
    progress.end(last_loss);
  }
}

// Fault injection (train.fail_step on train.fail_rank), for the tests of what follows.
void Trainer::inject_fault(data::Batch& batch) const {
  if (cfg_.train.fail_step != global_step_ || cfg_.train.fail_rank != world_.rank) return;
  if (cfg_.train.fail_kind == "throw")
    throw std::runtime_error("injected failure at global step " + std::to_string(global_step_) + " (train.fail_step)");
  if (cfg_.train.fail_kind == "nan") std::fill(batch.pixels.begin(), batch.pixels.end(), NAN);
  if (cfg_.train.fail_kind == "signal") request_stop(SIGUSR1);
}

method::StepResult Trainer::train_step(int64_t t, int64_t e, int64_t b, data::Batch& batch, int64_t global_batch) {
  inject_fault(batch);
  const auto s0 = Clock::now();
  method::StepResult r;
  try {
    r = learner_->train_step(batch, global_batch, stop_requested());
  } catch (const NonFiniteError& err) {
    throw NonFiniteError(std::string(err.what()) + " at global step " + std::to_string(global_step_) + " (task " +
                         std::to_string(t + 1) + ", epoch " + std::to_string(e + 1) + ", batch " +
                         std::to_string(b + 1) + "); stopped without writing a checkpoint, the last good one is kept");
  }
  const double step_seconds = since(s0);
  state_.current_step_seconds += step_seconds;
  metrics_.step(r.ce, r.atl, r.loss, batch.n, step_seconds, batch.wait_seconds, r.allreduce_seconds,
                learner_->allreduce_bytes());
  ++state_.current_steps;
  ++global_step_;
  if (on_step_) on_step_(t, global_step_, *learner_);
  TrainSummary& s = state_.summary;
  s.images_trained += global_batch;
  s.data_wait_seconds += batch.wait_seconds;
  s.allreduce_seconds += r.allreduce_seconds;
  s.step_compute_seconds += step_seconds;
  return r;
}

}  // namespace lorasub::train
