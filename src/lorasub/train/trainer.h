// The continual-learning task loop: data per task, the learner's phases, progress on
// rank 0, a task-end HDF5 checkpoint, results.json and accuracy_matrix.csv.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lorasub/core/config.h"
#include "lorasub/data/task_plan.h"
#include "lorasub/dist/communicator.h"
#include "lorasub/dist/world.h"
#include "lorasub/method/accuracy_matrix.h"
#include "lorasub/method/learner.h"
#include "lorasub/model/vit.h"
#include "lorasub/train/datasets.h"

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
  double train_images_per_second() const;
};

class Trainer {
 public:
  Trainer(const Config& cfg, const dist::World& world, dist::Communicator& comm);
  ~Trainer();
  // Runs every task of the plan (or the first max_tasks > 0) and writes the outputs.
  TrainSummary run(int64_t max_tasks = 0);
  const method::Learner& learner() const { return *learner_; }
  const data::TaskPlan& plan() const { return plan_; }
  std::string run_dir() const;
  // Called on every rank after every optimizer step, with the task and the number of
  // steps done so far (tests use it to compare ranks step by step).
  using StepObserver = std::function<void(int64_t task, int64_t steps_done, const method::Learner&)>;
  void set_step_observer(StepObserver f) { on_step_ = std::move(f); }

 private:
  void run_task(int64_t t, TrainSummary& summary);
  void train_epochs(int64_t t, const std::vector<int64_t>& indices, TrainSummary& summary);
  void write_outputs(const TrainSummary& summary) const;
  void write_task_checkpoint(int64_t t, const TrainSummary& summary) const;

  const Config& cfg_;
  dist::World world_;
  dist::Communicator& comm_;
  DataSplits data_;
  data::TaskPlan plan_;
  std::unique_ptr<model::Vit> vit_;
  std::unique_ptr<method::Learner> learner_;
  int64_t global_step_ = 0;
  StepObserver on_step_;
};

// Relabels both splits to class-order positions (dropping classes not in the plan).
void apply_class_order(DataSplits& data, const data::TaskPlan& plan);

}  // namespace lorasub::train
