// Feature drift of earlier tasks, measured after every task (train.drift): how far the
// class means of a finished task's test features have moved since that task ended, and
// how much NCM accuracy its stale prototypes cost against prototypes recomputed with
// the current backbone. This is the drift the drift-resistant space exists to stop.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "lorasub/data/task_plan.h"

namespace lorasub::train {

struct DriftRecord {
  int64_t task = 0;        // the earlier task j
  int64_t after_task = 0;  // measured after task i > j
  // mean over j's classes (with test images) of 1 - cos(mean at the end of j, mean now)
  double mean_cosine_distance = 0;
  // NCM accuracy (points) on j's test images with prototypes recomputed now minus with
  // the stored ones: what the stale prototypes lose (negative: they do better)
  double stale_accuracy_drop = 0;
};

class DriftTracker {
 public:
  explicit DriftTracker(const data::TaskPlan& plan) : plan_(plan) {}
  // After task t: one record per earlier task j < t. test_means: the test features'
  // class means now (seen x d); acc/fresh_acc: per-task NCM accuracy (%) with the stored
  // and with the recomputed prototypes.
  std::vector<DriftRecord> measure(int64_t t, const at::Tensor& test_means, const std::vector<double>& acc,
                                   const std::vector<double>& fresh_acc) const;
  // Keeps task t's rows of test_means as its reference.
  void remember(int64_t t, const at::Tensor& test_means);
  // The references so far (num_classes x d float32 on the host; rows of tasks not yet
  // finished are 0): what a checkpoint keeps so that a resumed run measures the same.
  const at::Tensor& reference() const { return reference_; }
  void set_reference(const at::Tensor& r) { reference_ = r; }

 private:
  const data::TaskPlan& plan_;
  at::Tensor reference_;
};

}  // namespace lorasub::train
