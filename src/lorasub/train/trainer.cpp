#include "lorasub/train/trainer.h"

#include <unistd.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "lorasub/data/loader.h"
#include "lorasub/data/sampler.h"
#include "lorasub/train/progress.h"
#include "lorasub/train/checkpoint.h"
#include "lorasub/train/signals.h"
#include "lorasub/io/run_dir.h"
#include "lorasub/core/error.h"
#include "lorasub/core/sha256.h"
#include "lorasub/dist/cuda_device.h"
#include "lorasub/model/torch_cuda.h"

#include <csignal>
#include <cmath>
#include <nlohmann/json.hpp>

namespace lorasub::train {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Stream-key epochs for the passes that are not training epochs.
constexpr int64_t kCovarianceEpoch = 1 << 20;

data::SmallImageTransform train_transform(const DataConfig& d) {
  return data::SmallImageTransform{true, d.crop_padding, d.flip};
}

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), f, a, b, c);
  return buf;
}

}  // namespace

double TrainSummary::train_images_per_second() const {
  double t = 0;
  for (const auto& s : seconds) t += s.train;
  return t > 0 ? static_cast<double>(images_trained) / t : 0.0;
}

Trainer::Trainer(const Config& cfg, const dist::World& world, dist::Communicator& comm)
    : cfg_(cfg), world_(world), comm_(comm), device_(resolve_device(cfg, world)) {
  activate_device(device_, cfg);
  if (device_.spec.cuda)  // batch copies go on torch's current stream (Learner::batch_images)
    pinned_ = dist::make_pinned_memory(device_.spec.index,
                                       [d = device_.device] { return model::current_cuda_stream(d); });
  data_ = open_dataset(cfg.data.dataset, cfg.data.root, cfg.data, cfg.model, cfg.run.seed);
  plan_ = data::TaskPlan::make(data_.train.num_classes(), cfg.data.init_cls, cfg.data.increment,
                               cfg.data.num_tasks, cfg.data.shuffle, cfg.run.seed);
  apply_class_order(data_, plan_);
  const model::VitShape shape{cfg.model.image_size, cfg.model.channels, cfg.model.patch,
                              cfg.model.dim, cfg.model.depth, cfg.model.heads, cfg.model.mlp_dim};
  vit_ = std::make_unique<model::Vit>(cfg.model.weights.empty()
                                          ? model::Vit::random(shape, cfg.run.seed)
                                          : model::Vit::load(cfg.model.weights, shape));
  vit_->to(device_.device);
  learner_ = method::make_learner(*vit_, cfg_, plan_, comm_);
  backbone_sha256_ = backbone_identity(cfg.model.weights);
  install_stop_handlers(cfg.ckpt.stop_deadline_seconds);
  start_metrics();
}

Trainer::~Trainer() {
  // A run that failed before writing anything leaves no run directory behind.
  if (!lock_ || !created_run_dir_) return;
  const io::RunDir dir(cfg_.run.dir, cfg_.run.name);
  if (!io::run_outputs(dir.path()).empty()) return;
  io::remove_stale_temporaries(dir.path());
  lock_.reset();
  std::remove((dir.path() + "/.lock").c_str());
  ::rmdir(dir.checkpoints_dir().c_str());  // only when empty
  ::rmdir(dir.path().c_str());
}

void Trainer::start_metrics() {
  if (!cfg_.metrics.enabled) return;
  obs::MetricsOptions o;
  o.enabled = true;
  o.bind = cfg_.metrics.bind;
  o.port = static_cast<int>(cfg_.metrics.port);
  // Rank r serves on port + local rank: every one must be a TCP port (no silent fallback).
  if (cfg_.metrics.port + world_.local_size - 1 > 65535)
    throw ConfigError("metrics.port " + std::to_string(cfg_.metrics.port) + " leaves no port for local rank " +
                      std::to_string(world_.local_size - 1) + " (port + local rank > 65535); use metrics.port <= " +
                      std::to_string(65536 - world_.local_size));
  o.auth_file = cfg_.metrics.auth_file;
  o.run = cfg_.run.name;
  o.rank = world_.rank;
  o.local_rank = world_.local_rank;
  metrics_ = obs::Metrics(o);
  const std::string target = obs::advertised_target(cfg_.metrics.bind, world_.host, metrics_.port());
  std::vector<std::string> targets = {target};
  if (!cfg_.metrics.file_sd_dir.empty()) {
    targets = dist::allgather_strings(comm_, target);
    if (world_.is_root()) file_sd_ = obs::FileSdTargets(cfg_.metrics.file_sd_dir, cfg_.run.name, targets);
  }
  std::string where;
  for (const auto& t : targets) where += (where.empty() ? "" : " ") + t;
  Progress::line(world_.is_root(), "lorasub: metrics on http://" + (targets.size() > 1 ? "{" + where + "}" : where) +
                                       "/metrics" + (cfg_.metrics.auth_file.empty() ? "" : " (basic auth)") +
                                       (file_sd_.path().empty() ? "" : "; file_sd targets in " + file_sd_.path()));
}

void Trainer::checkpoint_timed(const std::string& kind, int64_t t, int64_t epoch, int64_t batch, bool task_done) {
  const auto c0 = Clock::now();
  save_checkpoint(kind, t, epoch, batch, task_done);
  if (world_.is_root())
    metrics_.checkpoint_written(kind, since(c0),
                                std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

namespace {
double now_seconds() {
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}
}  // namespace

TrainSummary Trainer::run(int64_t max_tasks) {
  if (!claimed_) claim_run_dir(ResumeRequest{});
  const auto t0 = Clock::now();
  run_start_ = t0;
  const int64_t tasks = max_tasks > 0 ? std::min(max_tasks, plan_.num_tasks()) : plan_.num_tasks();
  last_ckpt_time_ = now_seconds();
  Progress::line(world_.is_root(),
                 "lorasub: " + cfg_.method.name + " on " + cfg_.data.dataset + ", " +
                     std::to_string(tasks) + " tasks, " + std::to_string(world_.size) +
                     " rank(s), " + std::to_string(at::get_num_threads()) + " thread(s) each; device " +
                     device_.description + ", " + cfg_.train.precision + ", " + comm_.name());
  announce_stops();
  auto wall = [&] { return wall_before_ + since(t0); };
  // A resumed run shows the accuracies and the drift measured before the stop.
  if (const auto& acc = summary_.accuracy; acc.rows() > 0 && metrics_.enabled()) {
    std::vector<double> row = acc.matrix().back();
    for (double& a : row) a /= 100.0;
    metrics_.task_finished(acc.rows() - 1, row, acc.a_last() / 100.0, acc.a_avg() / 100.0, acc.forgetting() / 100.0);
  }
  for (const DriftRecord& r : summary_.drift)
    metrics_.feature_drift(r.task, r.mean_cosine_distance, r.stale_accuracy_drop / 100.0);
  try {
    for (int64_t t = start_task_; t < tasks; ++t) {
      summary_.wall_seconds = wall();
      run_task(t);
      resumed_mid_task_ = false;
      summary_.wall_seconds = wall();
      // A stop asked for during the boundary phases is agreed here (not after the last task:
      // the run is complete then).
      if (t + 1 < tasks && agree_stop()) stop_now(t, 0, 0, true);
    }
  } catch (...) {
    summary_.wall_seconds = wall();
    throw;
  }
  summary_.wall_seconds = wall();
  // Unreadable images skipped on any rank (data.on_bad_image: skip): counted, reported.
  int64_t skipped = (data_.train_source ? data_.train_source->skipped() : 0) +
                    (data_.test_source ? data_.test_source->skipped() : 0);
  comm_.allreduce_sum(&skipped, 1);
  summary_.skipped_images = skipped;
  if (skipped > 0)
    Progress::line(world_.is_root(), "lorasub: " + std::to_string(skipped) +
                                         " unreadable image loads were replaced by grey images (data.on_bad_image: skip)");
  if (world_.is_root()) write_outputs();
  return summary_;
}

bool Trainer::agree_stop() {
  int64_t flag = stop_requested() ? 1 : 0;
  comm_.allreduce_max(&flag, 1);
  return flag != 0;
}

void Trainer::stop_now(int64_t t, int64_t epoch, int64_t batch, bool task_done) {
  const bool have = task_done && cfg_.ckpt.task_end;  // the task-end checkpoint was just written
  if (!have) checkpoint_timed("stop", t, epoch, batch, task_done);
  comm_.barrier();  // nobody exits before rank 0's checkpoint is complete
  std::fprintf(stderr, "lorasub: rank %d stopped at global step %lld on request (signal %d here); "
               "checkpoint written; exit code 75 (requeue with --resume auto)\n",
               world_.rank, static_cast<long long>(global_step_), stop_signal());
  std::fflush(stderr);
  throw StopRequested{global_step_};
}

void Trainer::run_task(int64_t t) {
  const bool mid = resumed_mid_task_ && t == start_task_;
  if (!mid) {
    current_ = PhaseSeconds{};
    current_step_seconds_ = 0;
    current_steps_ = 0;
  }
  const auto train_idx = data::TaskPlan::indices_in_range(data_.train.labels, plan_.first_class(t), plan_.end_class(t));
  const auto test_idx = data::TaskPlan::indices_in_range(data_.test.labels, 0, plan_.end_class(t));
  const int workers = static_cast<int>(cfg_.data.workers), prefetch = static_cast<int>(cfg_.data.prefetch);
  auto aug_loader_p = make_loader(data_, false, train_transform(cfg_.data), workers, prefetch, pinned_.get());
  auto plain_train_p = make_loader(data_, false, data::SmallImageTransform{}, workers, prefetch, pinned_.get());
  auto plain_test_p = make_loader(data_, true, data::SmallImageTransform{}, workers, prefetch, pinned_.get());
  data::Loader& aug_loader = *aug_loader_p;
  data::Loader& plain_train = *plain_train_p;
  data::Loader& plain_test = *plain_test_p;
  auto source = [&](data::Loader& loader, const std::vector<int64_t>& idx, int64_t bs, int64_t epoch) {
    data::GlobalSampler s(idx, bs, cfg_.run.seed, t, false);
    loader.start(s.rank_batches(0, world_.rank, world_.size), data::StreamKey{cfg_.run.seed, t, epoch});
    return method::BatchSource([&loader] { return loader.next(); });
  };

  metrics_.task_started(t, plan_.num_tasks());
  auto c0 = Clock::now();
  if (!mid) {
    learner_->begin_task(t, source(aug_loader, train_idx, cfg_.train.batch_size, kCovarianceEpoch));
    current_.covariance = since(c0);
    metrics_.covariance_pass(t, current_.covariance);
  }
  metrics_.drs_kept(learner_->kept_dims());
  c0 = Clock::now();
  const double train_before = current_.train;
  if (!(mid && learner_->trained())) {
    if (learner_->trains()) train_epochs(t, train_idx);
    learner_->end_training();
  }
  current_.train = train_before + since(c0);
  c0 = Clock::now();
  learner_->add_prototypes(source(plain_train, train_idx, cfg_.train.eval_batch_size, 0));
  current_.prototypes = since(c0);
  c0 = Clock::now();
  method::EvalOptions eval_opt;
  eval_opt.class_means = cfg_.train.drift;
  if (cfg_.train.drift && t > 0) {
    // The prototypes earlier classes would get now (the drift measurement's one extra pass).
    const int64_t first = plan_.first_class(t);
    const auto old_idx = data::TaskPlan::indices_in_range(data_.train.labels, 0, first);
    eval_opt.alt_prototypes = learner_->prototypes().narrow(0, 0, plan_.end_class(t)).clone();
    eval_opt.alt_prototypes.narrow(0, 0, first)
        .copy_(learner_->class_means(source(plain_train, old_idx, cfg_.train.eval_batch_size, 0), 0, first));
  }
  method::EvalResult ev = learner_->evaluate(source(plain_test, test_idx, cfg_.train.eval_batch_size, 0), eval_opt);
  current_.eval = since(c0);
  if (cfg_.train.drift) {
    const auto records = drift_.measure(t, ev.class_means, ev.per_task(), t > 0 ? ev.alt_per_task() : ev.per_task());
    drift_.remember(t, ev.class_means);
    summary_.drift.insert(summary_.drift.end(), records.begin(), records.end());
    for (const auto& r : records) metrics_.feature_drift(r.task, r.mean_cosine_distance, r.stale_accuracy_drop / 100.0);
  }
  summary_.accuracy.add_row(ev.per_task(), ev.overall());
  if (metrics_.enabled()) {  // accuracies are percent here, ratios in the metrics
    std::vector<double> row = ev.per_task();
    for (double& a : row) a /= 100.0;
    const auto& acc = summary_.accuracy;
    metrics_.task_finished(t, row, acc.a_last() / 100.0, acc.a_avg() / 100.0, acc.forgetting() / 100.0);
  }
  summary_.kept.push_back(learner_->kept_dims());
  summary_.step_seconds.push_back(current_steps_ > 0 ? current_step_seconds_ / static_cast<double>(current_steps_) : 0.0);
  summary_.seconds.push_back(current_);
  c0 = Clock::now();
  if (cfg_.ckpt.task_end) checkpoint_timed("task_end", t, 0, 0, true);
  summary_.seconds.back().checkpoint = since(c0);
  const PhaseSeconds& sec = summary_.seconds.back();
  Progress::line(world_.is_root(),
                 "task " + std::to_string(t + 1) + "/" + std::to_string(plan_.num_tasks()) +
                     fmt(": A_t %.2f%%  (cov %.1fs, train %.1fs, ", ev.overall(), sec.covariance, sec.train) +
                     fmt("protos %.1fs, eval %.1fs, ckpt %.1fs)", sec.prototypes, sec.eval, sec.checkpoint));
}

void Trainer::train_epochs(int64_t t, const std::vector<int64_t>& indices) {
  const int64_t epochs = t == 0 ? cfg_.train.init_epochs : cfg_.train.epochs;
  const bool mid = resumed_mid_task_ && t == start_task_;
  data::GlobalSampler sampler(indices, cfg_.train.batch_size, cfg_.run.seed, t, true);
  auto loader_p = make_loader(data_, false, train_transform(cfg_.data), static_cast<int>(cfg_.data.workers),
                             static_cast<int>(cfg_.data.prefetch), pinned_.get());
  data::Loader& loader = *loader_p;
  Progress progress(world_.is_root(), cfg_.train.log_every);
  const auto train_start = Clock::now();
  const double train_before = current_.train;
  for (int64_t e = mid ? resume_epoch_ : 0; e < epochs; ++e) {
    const int64_t first = (mid && e == resume_epoch_) ? resume_batch_ : 0;
    learner_->begin_epoch(e);
    metrics_.epoch(e, epochs);
    std::vector<std::vector<int64_t>> batches = sampler.rank_batches(e, world_.rank, world_.size);
    batches.erase(batches.begin(), batches.begin() + std::min<int64_t>(first, static_cast<int64_t>(batches.size())));
    loader.start(std::move(batches), data::StreamKey{cfg_.run.seed, t, e});
    progress.begin("task " + std::to_string(t + 1) + "/" + std::to_string(plan_.num_tasks()) +
                       " epoch " + std::to_string(e + 1) + "/" + std::to_string(epochs),
                   sampler.num_batches());
    double last_loss = 0;
    for (int64_t b = first; b < sampler.num_batches(); ++b) {
      std::optional<data::Batch> batch = loader.next();
      if (!batch) throw std::logic_error("loader ended before the epoch did");
      if (cfg_.train.fail_step == global_step_ && cfg_.train.fail_rank == world_.rank) {
        if (cfg_.train.fail_kind == "throw")
          throw std::runtime_error("injected failure at global step " + std::to_string(global_step_) +
                                   " (train.fail_step)");
        if (cfg_.train.fail_kind == "nan") std::fill(batch->pixels.begin(), batch->pixels.end(), NAN);
        if (cfg_.train.fail_kind == "signal") request_stop(SIGUSR1);
      }
      const int64_t gb = sampler.batch_size(b);
      const auto s0 = Clock::now();
      method::StepResult r;
      try {
        r = learner_->train_step(*batch, gb, stop_requested());
      } catch (const NonFiniteError& err) {
        throw NonFiniteError(std::string(err.what()) + " at global step " + std::to_string(global_step_) +
                             " (task " + std::to_string(t + 1) + ", epoch " + std::to_string(e + 1) +
                             ", batch " + std::to_string(b + 1) + "); stopped without writing a checkpoint, "
                             "the last good one is kept");
      }
      const double step_seconds = since(s0);
      current_step_seconds_ += step_seconds;
      metrics_.step(r.ce, r.atl, r.loss, batch->n, step_seconds, batch->wait_seconds, r.allreduce_seconds,
                    learner_->allreduce_bytes());
      metrics_.task_progress(static_cast<double>(e * sampler.num_batches() + b + 1) /
                             static_cast<double>(std::max<int64_t>(1, epochs * sampler.num_batches())));
      ++current_steps_;
      ++global_step_;
      if (on_step_) on_step_(t, global_step_, *learner_);
      summary_.images_trained += gb;
      summary_.data_wait_seconds += batch->wait_seconds;
      summary_.allreduce_seconds += r.allreduce_seconds;
      summary_.step_compute_seconds += step_seconds;
      last_loss = r.loss;
      progress.step(b + 1, r.loss, gb);
      current_.train = train_before + since(train_start);
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

}  // namespace lorasub::train
