// Feature drift of earlier tasks, measured after every task (train.drift): how far the
// class means of a finished task's test features have moved since that task ended, and
// how much NCM accuracy its stale prototypes cost against prototypes recomputed with
// the current backbone. This is the drift the drift-resistant space exists to stop.
//
// The test-feature means come from the evaluation pass, which runs anyway. The
// recomputed prototypes come from a fixed, seeded sample of every earlier class's
// training images (train.drift_sample), the same images at every task: the prototype
// each class would get now is estimated as its stored prototype plus how far the
// sample's mean has moved since the class's task ended. The sample's own noise cancels
// in that difference; what is left is the spread of the per-image drift over the sample,
// so a few images per class suffice, and the pass costs per task the sample of every
// seen class instead of all earlier training images (train.drift_full, O(T^2) a run).
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

// Per class, `per_class` of its training images (all of a smaller class), drawn once
// from `seed` and sorted: the stale-prototype measurement's sample. labels: the training
// set's classes (plan order).
std::vector<std::vector<int64_t>> draw_drift_sample(const std::vector<int64_t>& labels, int64_t num_classes,
                                                    int64_t per_class, uint64_t seed);

// train.drift_sample 0: the most images per class, from 1 to 64, for which the run's
// sample passes (after task t, the sample of each of its end_class(t) classes, one
// forward each) stay within 1% of its training compute (a trained image: a forward and
// a backward, about 3 forwards). images_per_task: training images of each task.
int64_t auto_drift_sample(const data::TaskPlan& plan, const std::vector<int64_t>& images_per_task,
                          int64_t init_epochs, int64_t epochs);

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
  // The sampled estimate after task t: stored, the learner's prototypes, and sample_now,
  // the sample's class means now (both end_class(t) x d). Returns the prototypes the
  // earlier classes would get now, stored + (sample_now - the sample's means when their
  // task ended), and task t's rows of `stored`; keeps task t's rows of sample_now as their
  // reference. An earlier class with no reference (a run resumed from a checkpoint
  // without one) takes sample_now as it is.
  at::Tensor fresh_from_sample(int64_t t, const at::Tensor& stored, const at::Tensor& sample_now);
  const at::Tensor& sample_reference() const { return sample_reference_; }  // like reference()
  void set_sample_reference(const at::Tensor& r) { sample_reference_ = r; }

 private:
  const data::TaskPlan& plan_;
  at::Tensor reference_, sample_reference_;
};

}  // namespace lorasub::train
