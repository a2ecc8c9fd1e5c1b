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
#include "lorasub/train/datasets.h"
#include "lorasub/train/device.h"
#include "lorasub/train/drift.h"

namespace lorasub::train {

struct PhaseSeconds {
  double covariance = 0, train = 0, prototypes = 0, eval = 0, checkpoint = 0;
  double total() const { return covariance + train + prototypes + eval + checkpoint; }
};

struct TrainSummary {
  method::AccuracyMatrix accuracy;
  std::vector<PhaseSeconds> seconds;       // per task
  std::vector<std::vector<int64_t>> kept;  // DRS kept dims per task and block
  std::vector<double> step_seconds;        // mean train-step time per task
  double wall_seconds = 0;
  int64_t images_trained = 0;
  double data_wait_seconds = 0;            // train steps: time spent waiting for the loader
  double step_compute_seconds = 0;         // train steps: forward/backward/all-reduce/update
  double allreduce_seconds = 0;            // train steps: the fused gradient all-reduce (this attempt)
  int64_t skipped_images = 0;              // unreadable images replaced (data.on_bad_image: skip), all ranks
  std::vector<DriftRecord> drift;          // train.drift: per earlier task, after every later one
  double train_images_per_second() const;
};

struct Checkpoint;

// How `lorasub train` starts: fresh, resumed (--resume) or over an earlier run (--overwrite).
struct ResumeRequest {
  std::string from;                  // "" (fresh), "auto" or a checkpoint path
  bool allow_config_change = false;
  bool overwrite = false;            // remove an earlier run's outputs in the run directory
};

class Trainer {
 public:
  Trainer(const Config& cfg, const dist::World& world, dist::Communicator& comm);
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
  void run_task(int64_t t);
  void train_epochs(int64_t t, const std::vector<int64_t>& indices);
  void write_outputs() const;
  // Rank 0 writes (kind task_end | step | stop) for position `pos`; prunes old ones.
  void save_checkpoint(const std::string& kind, int64_t t, int64_t epoch, int64_t batch, bool task_done);
  Checkpoint make_checkpoint(const std::string& kind, int64_t t, int64_t epoch, int64_t batch,
                             bool task_done) const;
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
  DataSplits data_;
  data::TaskPlan plan_;
  std::unique_ptr<model::Vit> vit_;
  std::unique_ptr<method::Learner> learner_;
  DriftTracker drift_{plan_};
  int64_t global_step_ = 0;
  StepObserver on_step_;
  TrainSummary summary_;
  PhaseSeconds current_;              // the task in progress
  double current_step_seconds_ = 0;
  int64_t current_steps_ = 0;
  // Resume point (from a checkpoint): task, epoch, batch; resumed_mid_task_ when the
  // learner was restored inside task resume_task_.
  bool resumed_mid_task_ = false;
  int64_t start_task_ = 0, resume_epoch_ = 0, resume_batch_ = 0;
  std::string backbone_sha256_;
  std::string history_json_ = "[]";
  double wall_before_ = 0;            // wall seconds of earlier attempts (resumed runs)
  std::chrono::steady_clock::time_point run_start_ = std::chrono::steady_clock::now();
  double last_ckpt_time_ = 0;         // steady seconds of the last checkpoint (rank 0)
  bool claimed_ = false;              // claim_run_dir done
  bool created_run_dir_ = false;      // rank 0 made the run directory (removed again if the run wrote nothing)
  std::unique_ptr<io::RunLock> lock_; // rank 0: the run directory's lock, held for the run
  obs::Metrics metrics_;              // a null object unless metrics.enabled
  obs::FileSdTargets file_sd_;        // rank 0: removed when the trainer goes
};

}  // namespace lorasub::train
