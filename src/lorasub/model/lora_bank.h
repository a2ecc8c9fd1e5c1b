// Per-task LoRA adapters on the k and v slices of every block's qkv weight (or q and v:
// LoraTargets::kQueryValue, SD-LoRA; the a_k/b_k pair then adapts q).
// Task s owns A_s (r x d) and B_s (d x r) per block and target; delta_s = B_s A_s.
// Frozen old deltas are folded into dense per-block qkv weights once per task
// (invariant 5: per-step cost flat in the number of tasks); only the current
// adapter stays low-rank in the autograd graph.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "lorasub/model/vit.h"

namespace lorasub::model {

struct TaskAdapters {
  std::vector<KvAdapter> blocks;  // one per ViT block
};

enum class LoraTargets { kKeyValue, kQueryValue };
enum class BInit { kSparse /* LoRA-/DRS */, kZero /* InfLoRA, SD-LoRA */ };

// The factor of task s's delta in block i on target j (0: k or q, 1: v) when folding.
using DeltaScale = std::function<double(int64_t task, int64_t block, int target)>;

class LoraBank {
 public:
  LoraBank(const Vit& vit, int64_t rank, LoraTargets targets = LoraTargets::kKeyValue);

  // Appends task t's adapters with the reference init: A ~ U(+-1/sqrt(d)); with kSparse
  // every column of B has one nonzero, at a uniformly random row, drawn N(0, 0.01^2); with
  // kZero B = 0. The stream is keyed by (seed, task, block, target). The new adapters
  // require grad.
  void add_task(uint64_t seed, BInit b_init = BInit::kSparse);
  // Appends adapters with given values (checkpoint load, tests), moved to the
  // backbone's device.
  void add_task(TaskAdapters adapters);
  int64_t num_tasks() const { return static_cast<int64_t>(tasks_.size()); }
  // Drops every task (before restoring a saved state).
  void clear();
  int64_t rank() const { return rank_; }
  LoraTargets targets() const { return targets_; }
  const TaskAdapters& task(int64_t t) const { return tasks_.at(t); }
  TaskAdapters& task(int64_t t) { return tasks_.at(t); }

  // The current (last) task's A and B tensors, in a fixed order (block-major: A_k, B_k,
  // A_v, B_v) — what the optimizer trains.
  std::vector<at::Tensor> current_parameters() const;

  // Per-block qkv weights W0 + sign * sum_{s < upto} delta_s on the k and v rows
  // (sum accumulated in float64 in task order, then added to W0 and rounded once). The
  // float64 sums of the frozen tasks' deltas are kept from one call to the next and
  // extended by the tasks added since, so a task's folds cost one delta each, not one
  // per earlier task; the values are those of summing from scratch, bit for bit.
  std::vector<at::Tensor> folded_qkv(int64_t upto, int sign) const;
  // The same with task s's delta times scale(s, block, target).
  std::vector<at::Tensor> folded_qkv(int64_t upto, const DeltaScale& scale) const;

  // Forward options: training (W0 + sum_{s<t} delta_s merged, delta_t low-rank),
  // subtracted (W0 - sum_{s<t} delta_s, no current adapter: the covariance pass),
  // full (W0 + sum_{s<=t} delta_s merged, for prototypes and evaluation).
  // Call refresh() after adding a task or changing adapters, before using them.
  void refresh();
  ForwardOptions training_view() const;
  ForwardOptions subtracted_view() const;
  ForwardOptions full_view() const;
  // The current task's adapters as the views pass them (null before the first task).
  const std::vector<KvAdapter>* current_adapters() const;

 private:
  const Vit& vit_;
  int64_t rank_;
  LoraTargets targets_;
  std::vector<TaskAdapters> tasks_;
  enum class Fold { kOld, kSubtracted, kAll };            // W0 + sum_{s<t}, W0 - sum_{s<t}, W0 + sum_{s<=t}
  const std::vector<at::Tensor>* fold(Fold which) const;  // made on first use after refresh()
  mutable std::map<Fold, std::vector<at::Tensor>> folded_;
  std::vector<KvAdapter> current_;
  // sum_{s < summed_} delta_s per block (float64, k or q rows then v rows), and what each
  // summed task's tensors were (storage and version): a task changed or replaced since
  // (a restore, a rollback) is noticed and the sums are made again from task 0.
  struct Stamp {
    const void* ptr = nullptr;
    int64_t version = 0;
  };
  mutable std::vector<at::Tensor> sum1_, sumv_;
  mutable std::vector<std::vector<Stamp>> stamps_;
  mutable int64_t summed_ = 0;
  // Extends (or remakes) the kept sums to tasks [0, upto) with upto < num_tasks() or
  // every task frozen.
  void sum_deltas(int64_t upto) const;
  std::vector<Stamp> stamp(int64_t task) const;
};

}  // namespace lorasub::model
