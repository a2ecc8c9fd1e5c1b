// `lorasub bench --per-task`: the long-sequence view of a bench run. Per task: the mean
// step time, the boundary by phase (covariance with its eigh part, prototypes, eval,
// drift, checkpoint), the process's peak and current resident memory and the task-end
// checkpoint's size; then the last/second ratios and, for what grows, by how much a task.
#pragma once
#include <string>

#include "lorasub/train/run_state.h"

namespace lorasub::commands {

struct TaskGrowth {
  double step_ratio = 0;      // step time, last task / task 2
  double peak_rss_ratio = 0;  // peak resident memory, last task / task 2
  double boundary_ratio = 0;  // boundary seconds, last task / task 2
  // Least-squares slopes over tasks 2..last, per task: checkpoint MB, resident MB, eval
  // and drift seconds (what the protocol makes grow: every seen class is evaluated and
  // sampled after every task).
  double ckpt_mb_per_task = 0, rss_mb_per_task = 0, eval_s_per_task = 0, drift_s_per_task = 0;
};

// Needs at least 2 tasks with resources (else all 0).
TaskGrowth task_growth(const train::TrainSummary& s);

// The table (every task) and the growth lines.
std::string per_task_table(const train::TrainSummary& s);

}  // namespace lorasub::commands
