// The continual-learning task loop: data per task, the learner's phases, progress on
// rank 0, a task-end HDF5 checkpoint, results.json and accuracy_matrix.csv.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lorasub/core/config.h"
#include "lorasub/data/task_plan.h"
#include "lorasub/dist/communicator.h"
#include "lorasub/dist/world.h"
#include "lorasub/io/run_lock.h"
#include "lorasub/method/accuracy_matrix.h"
#include "lorasub/method/learner.h"
#include "lorasub/model/vit.h"
#include "lorasub/obs/metrics.h"
#include "lorasub/core/host_memory.h"
#include "lorasub/data/open_dataset.h"
#include "lorasub/train/device.h"
#include "lorasub/train/drift.h"
#include "lorasub/train/run_state.h"

namespace lorasub::train {

struct Checkpoint;

// How `lorasub train` starts: fresh, resumed (--resume) or over an earlier run (--overwrite).
struct ResumeRequest {
  std::string from;  // "" (fresh), "auto" or a checkpoint path
  bool allow_config_change = false;
  bool overwrite = false;  // remove an earlier run's outputs in the run directory
};

class Trainer {
 public:
  // `device`: this rank's device, resolved and activated by the command
  // (resolve_device, activate_device) before `comm` was made for it.
  Trainer(const Config& cfg, const dist::World& world, dist::Communicator& comm, const TrainDevice& device);
  ~Trainer();
  // Takes the run directory (rank 0: created, writable, locked for the whole run; an
  // earlier run's outputs refused unless req.overwrite or a resume), then loads a
  // checkpoint per `req` on every rank (all ranks must call it). "auto": the newest
  // good checkpoint of the run directory, skipping (and naming) damaged ones; one
  // written with another config or backbone is a ConfigError naming the keys that
  // differ (unless allow_config_change); none at all: start fresh. A path: that file,
  // or a ConfigError/FormatError. Returns the file resumed from ("" = fresh start).
  // run() calls it with a fresh request when it was not called.
  std::string resume(const ResumeRequest& req);
  // Runs every task of the plan (or the first max_tasks > 0) and writes the outputs.
  // Throws StopRequested after an agreed stop (checkpoint written) and NonFiniteError
  // on NaN/Inf (no checkpoint written).
  TrainSummary run(int64_t max_tasks = 0);
  const method::Learner& learner() const { return *learner_; }
  const data::TaskPlan& plan() const { return plan_; }
  const TrainDevice& device() const { return device_; }
  std::string run_dir() const;
  // Called on every rank after every optimizer step, with the task and the number of
  // steps done so far (tests use it to compare ranks step by step).
  using StepObserver = std::function<void(int64_t task, int64_t steps_done, const method::Learner&)>;
  void set_step_observer(StepObserver f) { on_step_ = std::move(f); }

 private:
  void claim_run_dir(const ResumeRequest& req);
  void claim_run_dir_on_root(const ResumeRequest& req);
  // Takes the learner's and the trainer's state and the position from `c` (read from `path`).
  void restore_from(const Checkpoint& c, const std::string& path, bool config_changed);
  // The loaders a task's phases read: the augmented training stream (covariance pass,
  // training) and the plain train and test streams (prototypes, drift, evaluation).
  struct TaskLoaders {
    std::unique_ptr<data::Loader> augmented, plain_train, plain_test;
  };
  TaskLoaders task_loaders() const;
  // This rank's share of `idx` in global batches of `bs`, from `loader`.
  method::BatchSource batches(data::Loader& loader, int64_t t, const std::vector<int64_t>& idx, int64_t bs,
                              int64_t epoch) const;
  void run_task(int64_t t);
  // The drift pass (train.drift) and the evaluation of tasks 0..t.
  method::EvalResult evaluate_task(int64_t t, TaskLoaders& loaders, const std::vector<int64_t>& test_idx);
  // The prototypes classes 0..end_class(t) would get now: earlier classes' estimated from
  // the drift sample (or recomputed from every image: train.drift_full), task t's as
  // stored. Undefined when there is nothing earlier to compare (task 0).
  at::Tensor drift_prototypes(int64_t t, data::Loader& plain_train);
  // train.drift: the images per class the stale-prototype measurement reads (0: all).
  void choose_drift_sample();
  // The task's row, timings, metrics, task-end checkpoint and progress line.
  void record_task(int64_t t, const method::EvalResult& ev);
  void train_epochs(int64_t t, const std::vector<int64_t>& indices, data::Loader& loader);
  method::StepResult train_step(int64_t t, int64_t epoch, int64_t batch, data::Batch& b, int64_t global_batch);
  void inject_fault(data::Batch& batch) const;
  void write_outputs() const;
  // Rank 0 writes (kind task_end | step | stop) for position `pos`; prunes old ones.
  void save_checkpoint(const std::string& kind, int64_t t, int64_t epoch, int64_t batch, bool task_done);
  Checkpoint make_checkpoint(const std::string& kind, int64_t t, int64_t epoch, int64_t batch, bool task_done) const;
  // Every rank: agree on a stop at a task boundary (one small all-reduce).
  bool agree_stop();
  [[noreturn]] void stop_now(int64_t t, int64_t epoch, int64_t batch, bool task_done);
  // save_checkpoint, timed into the metrics (rank 0 writes; the others return at once).
  void checkpoint_timed(const std::string& kind, int64_t t, int64_t epoch, int64_t batch, bool task_done);
  // Starts the metrics exposer (metrics.enabled) and, with metrics.file_sd_dir, gathers
  // every rank's host:port to rank 0, which writes the file_sd target file. Collective.
  void start_metrics();

  const Config& cfg_;
  dist::World world_;
  dist::Communicator& comm_;
  TrainDevice device_;
  std::unique_ptr<HostMemory> pinned_;  // CUDA: page-locked batch memory (outlives every loader)
  data::DataSplits data_;
  data::TaskPlan plan_;
  std::unique_ptr<model::Vit> vit_;
  std::unique_ptr<method::Learner> learner_;
  DriftTracker drift_{plan_};
  std::vector<std::vector<int64_t>> drift_sample_;  // per class: training indices (train.drift, sampled)
  int64_t drift_per_class_ = 0;                     // images per class of drift_sample_ (0: full pass)
  int64_t global_step_ = 0;
  StepObserver on_step_;
  TrainerState state_;  // what a checkpoint saves and a resume restores
  // Resume point (from a checkpoint): task, epoch, batch; resumed_mid_task_ when the
  // learner was restored inside task resume_task_.
  bool resumed_mid_task_ = false;
  int64_t start_task_ = 0, resume_epoch_ = 0, resume_batch_ = 0;
  std::string backbone_sha256_;
  double wall_before_ = 0;  // wall seconds of earlier attempts (resumed runs)
  std::chrono::steady_clock::time_point run_start_ = std::chrono::steady_clock::now();
  double last_ckpt_time_ = 0;          // steady seconds of the last checkpoint (rank 0)
  int64_t last_checkpoint_bytes_ = 0;  // size of the last checkpoint written (rank 0)
  bool claimed_ = false;               // claim_run_dir done
  bool created_run_dir_ = false;       // rank 0 made the run directory (removed again if the run wrote nothing)
  std::unique_ptr<io::RunLock> lock_;  // rank 0: the run directory's lock, held for the run
  obs::Metrics metrics_;               // a null object unless metrics.enabled
  obs::FileSdTargets file_sd_;         // rank 0: removed when the trainer goes
};

}  // namespace lorasub::train
