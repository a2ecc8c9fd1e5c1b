// Class order and task boundaries (class-incremental). Labels inside lorasub are
// positions in the class order: class_order[new_label] = dataset label.
#pragma once
#include <cstdint>
#include <vector>

namespace lorasub::data {

class TaskPlan {
 public:
  // Task 0 has init_cls classes, each later task `increment`; if the classes do not
  // divide evenly the remainder becomes one more, smaller task (as PyCIL does).
  // num_tasks > 0 keeps only the first num_tasks tasks. shuffle permutes the class
  // order with a stream keyed by seed; otherwise the order is the identity.
  // Throws ConfigError on impossible values.
  static TaskPlan make(int64_t num_classes, int64_t init_cls, int64_t increment, int64_t num_tasks, bool shuffle,
                       uint64_t seed);

  int64_t num_tasks() const { return static_cast<int64_t>(task_sizes_.size()); }
  int64_t num_classes() const;  // classes covered by the tasks
  int64_t task_size(int64_t t) const { return task_sizes_.at(t); }
  int64_t first_class(int64_t t) const;  // classes seen before task t
  int64_t end_class(int64_t t) const { return first_class(t) + task_size(t); }
  int64_t task_of_class(int64_t label) const;  // -1 when not in any task
  const std::vector<int64_t>& class_order() const { return class_order_; }
  const std::vector<int64_t>& task_sizes() const { return task_sizes_; }
  // dataset label -> position in the class order (-1 for classes not in the plan)
  std::vector<int64_t> label_map() const;

  // Indices (into labels) whose label lies in [lo, hi), in dataset order.
  static std::vector<int64_t> indices_in_range(const std::vector<int64_t>& labels, int64_t lo, int64_t hi);

 private:
  std::vector<int64_t> class_order_;
  std::vector<int64_t> task_sizes_;
  int64_t dataset_classes_ = 0;
};

}  // namespace lorasub::data
