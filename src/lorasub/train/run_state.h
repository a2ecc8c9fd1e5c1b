// Where a run stands and what it has measured: what the Trainer carries from step to
// step and a checkpoint holds besides the learner's own state (docs/checkpoint-format.md).
// No trainer in here, so the checkpoint code and its readers need none.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lorasub/method/accuracy_matrix.h"
#include "lorasub/train/drift.h"

namespace lorasub::train {

// A task's wall seconds by phase. projector is the part of covariance spent deriving the
// projector (eigh); drift is the stale-prototype pass (train.drift), apart from eval.
struct PhaseSeconds {
  double covariance = 0, train = 0, prototypes = 0, eval = 0, checkpoint = 0;
  double drift = 0, projector = 0;
  double boundary() const { return covariance + prototypes + eval + checkpoint + drift; }
  double total() const { return train + boundary(); }
};

// What a finished task left in memory and on disk (this attempt's tasks only).
struct TaskResources {
  int64_t task = 0;
  int64_t peak_rss_bytes = 0;    // the process's peak resident set so far
  int64_t rss_bytes = 0;         // resident set at the task's end
  int64_t checkpoint_bytes = 0;  // its task-end checkpoint (rank 0; 0 elsewhere or none)
};

struct TrainSummary {
  method::AccuracyMatrix accuracy;
  std::vector<PhaseSeconds> seconds;       // per task
  std::vector<std::vector<int64_t>> kept;  // DRS kept dims per task and block
  std::vector<double> step_seconds;        // mean train-step time per task
  double wall_seconds = 0;
  int64_t images_trained = 0;
  double data_wait_seconds = 0;     // train steps: time spent waiting for the loader
  double step_compute_seconds = 0;  // train steps: forward/backward/all-reduce/update
  double allreduce_seconds = 0;     // train steps: the fused gradient all-reduce (this attempt)
  int64_t skipped_images = 0;       // unreadable images replaced (data.on_bad_image: skip), all ranks
  std::vector<DriftRecord> drift;   // train.drift: per earlier task, after every later one
  std::vector<TaskResources> resources;  // this attempt's finished tasks (not checkpointed)
  double train_images_per_second() const {
    double t = 0;
    for (const auto& s : seconds) t += s.train;
    return t > 0 ? static_cast<double>(images_trained) / t : 0.0;
  }
};

// Where training stands: the next thing to do is batch `batch` of epoch `epoch` of
// task `task` (epoch == epochs of the task: training done, prototypes and evaluation
// not), or, when task_done, task + 1 from its start.
struct Position {
  int64_t task = 0, epoch = 0, batch = 0, global_step = 0;
  bool task_done = false;
};

// The Trainer's resumable state, as one value: saved into a checkpoint and restored
// from it whole.
struct TrainerState {
  TrainSummary summary;             // finished tasks' rows and timings, totals so far
  PhaseSeconds current;             // the task in progress: phase seconds so far
  double current_step_seconds = 0;  // its train steps so far: seconds and count
  int64_t current_steps = 0;
  std::string history_json = "[]";  // earlier resumes: [{from, global_step, ranks, config_changed}]
};

}  // namespace lorasub::train
