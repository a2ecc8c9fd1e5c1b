#include "lorasub/train/trainer.h"

#include <unistd.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>

#include "lorasub/core/error.h"
#include "lorasub/dist/cuda_device.h"
#include "lorasub/io/run_dir.h"
#include "lorasub/model/torch_cuda.h"
#include "lorasub/train/progress.h"
#include "lorasub/train/resume_check.h"
#include "lorasub/train/signals.h"

namespace lorasub::train {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

Trainer::Trainer(const Config& cfg, const dist::World& world, dist::Communicator& comm, const TrainDevice& device)
    : cfg_(cfg), world_(world), comm_(comm), device_(device) {
  if (device_.spec.cuda)  // batch copies go on torch's current stream (Learner::batch_images)
    pinned_ =
        dist::make_pinned_memory(device_.spec.index, [d = device_.device] { return model::current_cuda_stream(d); });
  data_ = data::open_dataset(cfg.data.dataset, cfg.data.root, cfg.data, cfg.model, cfg.run.seed);
  plan_ = data::TaskPlan::make(data_.train.num_classes(), cfg.data.init_cls, cfg.data.increment, cfg.data.num_tasks,
                               cfg.data.shuffle, cfg.run.seed);
  data::apply_class_order(data_, plan_);
  const model::VitShape shape = model::model_shape(cfg.model);
  vit_ = std::make_unique<model::Vit>(cfg.model.weights.empty() ? model::Vit::random(shape, cfg.run.seed)
                                                                : model::Vit::load(cfg.model.weights, shape));
  vit_->to(device_.device);
  learner_ = method::make_learner(*vit_, cfg_, plan_, comm_);
  backbone_sha256_ = backbone_identity(cfg.model.weights);
  choose_drift_sample();
  start_metrics();
}

void Trainer::choose_drift_sample() {
  if (!cfg_.train.drift || cfg_.train.drift_full) return;
  drift_per_class_ = cfg_.train.drift_sample;
  if (drift_per_class_ == 0) {
    std::vector<int64_t> images(static_cast<size_t>(plan_.num_tasks()), 0);
    for (int64_t l : data_.train.labels) images.at(static_cast<size_t>(plan_.task_of_class(l)))++;
    drift_per_class_ = auto_drift_sample(plan_, images, cfg_.train.init_epochs, cfg_.train.epochs);
  }
  drift_sample_ = draw_drift_sample(data_.train.labels, plan_.num_classes(), drift_per_class_, cfg_.run.seed);
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
                      std::to_string(world_.local_size - 1) +
                      " (port + local rank > 65535); use metrics.port <= " + std::to_string(65536 - world_.local_size));
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
    metrics_.checkpoint_written(
        kind, since(c0), std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

namespace {
double now_seconds() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }
}  // namespace

TrainSummary Trainer::run(int64_t max_tasks) {
  if (!claimed_) claim_run_dir(ResumeRequest{});
  const auto t0 = Clock::now();
  run_start_ = t0;
  const int64_t tasks = max_tasks > 0 ? std::min(max_tasks, plan_.num_tasks()) : plan_.num_tasks();
  last_ckpt_time_ = now_seconds();
  Progress::line(world_.is_root(), "lorasub: " + cfg_.method.name + " on " + cfg_.data.dataset + ", " +
                                       std::to_string(tasks) + " tasks, " + std::to_string(world_.size) + " rank(s), " +
                                       std::to_string(at::get_num_threads()) + " thread(s) each; device " +
                                       device_.description + ", " + cfg_.train.precision + ", " + comm_.name());
  announce_stops();
  if (cfg_.train.drift)
    Progress::line(world_.is_root(),
                   "lorasub: drift: stale prototypes " +
                       (drift_per_class_ > 0 ? "from " + std::to_string(drift_per_class_) +
                                                   " training images per class (train.drift_sample" +
                                                   (cfg_.train.drift_sample == 0 ? ", auto)" : ")")
                                             : std::string("from every earlier training image (train.drift_full)")));
  auto wall = [&] { return wall_before_ + since(t0); };
  // A resumed run shows the accuracies and the drift measured before the stop.
  if (const auto& acc = state_.summary.accuracy; acc.rows() > 0 && metrics_.enabled()) {
    std::vector<double> row = acc.matrix().back();
    for (double& a : row) a /= 100.0;
    metrics_.task_finished(acc.rows() - 1, row, acc.a_last() / 100.0, acc.a_avg() / 100.0, acc.forgetting() / 100.0);
  }
  for (const DriftRecord& r : state_.summary.drift)
    metrics_.feature_drift(r.task, r.mean_cosine_distance, r.stale_accuracy_drop / 100.0);
  try {
    for (int64_t t = start_task_; t < tasks; ++t) {
      state_.summary.wall_seconds = wall();
      run_task(t);
      resumed_mid_task_ = false;
      state_.summary.wall_seconds = wall();
      // A stop asked for during the boundary phases is agreed here (not after the last task:
      // the run is complete then).
      if (t + 1 < tasks && agree_stop()) stop_now(t, 0, 0, true);
    }
  } catch (...) {
    state_.summary.wall_seconds = wall();
    throw;
  }
  state_.summary.wall_seconds = wall();
  // Unreadable images skipped on any rank (data.on_bad_image: skip): counted, reported.
  int64_t skipped =
      (data_.train_source ? data_.train_source->skipped() : 0) + (data_.test_source ? data_.test_source->skipped() : 0);
  comm_.allreduce_sum(&skipped, 1);
  state_.summary.skipped_images = skipped;
  if (skipped > 0)
    Progress::line(world_.is_root(),
                   "lorasub: " + std::to_string(skipped) +
                       " unreadable image loads were replaced by grey images (data.on_bad_image: skip)");
  if (world_.is_root()) write_outputs();
  return state_.summary;
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
  std::fprintf(stderr,
               "lorasub: rank %d stopped at global step %lld on request (signal %d here); "
               "checkpoint written; exit code 75 (requeue with --resume auto)\n",
               world_.rank, static_cast<long long>(global_step_), stop_signal());
  std::fflush(stderr);
  throw StopRequested{global_step_};
}

}  // namespace lorasub::train
