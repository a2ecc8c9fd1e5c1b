#include "lorasub/data/task_plan.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

#include "lorasub/core/error.h"
#include "lorasub/core/rng.h"

namespace lorasub::data {
namespace {

void check_args(int64_t num_classes, int64_t init_cls, int64_t increment, int64_t num_tasks) {
  const auto s = [](int64_t v) { return std::to_string(v); };
  if (num_classes < 1) throw ConfigError("num_classes must be >= 1, got " + s(num_classes));
  if (init_cls < 1 || init_cls > num_classes) {
    throw ConfigError("init_cls must be in [1, num_classes = " + s(num_classes) + "], got " + s(init_cls));
  }
  if (increment < 1) throw ConfigError("increment must be >= 1, got " + s(increment));
  if (num_tasks < 0) {
    throw ConfigError("num_tasks must be >= 0 (0 = all tasks), got " + s(num_tasks));
  }
}

}  // namespace

TaskPlan TaskPlan::make(int64_t num_classes, int64_t init_cls, int64_t increment, int64_t num_tasks, bool shuffle,
                        uint64_t seed) {
  check_args(num_classes, init_cls, increment, num_tasks);
  TaskPlan plan;
  plan.dataset_classes_ = num_classes;
  plan.task_sizes_.push_back(init_cls);
  for (int64_t left = num_classes - init_cls; left > 0; left -= increment) {
    plan.task_sizes_.push_back(std::min(increment, left));
  }
  if (num_tasks > 0) {
    const int64_t available = plan.num_tasks();
    if (num_tasks > available) {
      throw ConfigError("num_tasks = " + std::to_string(num_tasks) + " but only " + std::to_string(available) +
                        " tasks are available (" + std::to_string(num_classes) + " classes, init_cls " +
                        std::to_string(init_cls) + ", increment " + std::to_string(increment) + ")");
    }
    plan.task_sizes_.resize(static_cast<size_t>(num_tasks));
  }
  // The order always covers every dataset class, so truncating the tasks never
  // changes which classes the kept tasks get.
  plan.class_order_.resize(static_cast<size_t>(num_classes));
  std::iota(plan.class_order_.begin(), plan.class_order_.end(), int64_t{0});
  if (shuffle) {
    Rng rng(Stream::kClassOrder, {seed});
    for (int64_t i = num_classes - 1; i > 0; --i) {
      std::swap(plan.class_order_[i], plan.class_order_[rng.below(i + 1)]);
    }
  }
  return plan;
}

int64_t TaskPlan::num_classes() const { return std::accumulate(task_sizes_.begin(), task_sizes_.end(), int64_t{0}); }

// t == num_tasks() is allowed and gives num_classes().
int64_t TaskPlan::first_class(int64_t t) const {
  if (t < 0 || t > num_tasks()) {
    throw std::out_of_range("TaskPlan::first_class: task " + std::to_string(t) + " out of range [0, " +
                            std::to_string(num_tasks()) + "]");
  }
  return std::accumulate(task_sizes_.begin(), task_sizes_.begin() + t, int64_t{0});
}

int64_t TaskPlan::task_of_class(int64_t label) const {
  if (label < 0) return -1;
  int64_t end = 0;
  for (int64_t t = 0; t < num_tasks(); ++t) {
    end += task_sizes_[t];
    if (label < end) return t;
  }
  return -1;
}

std::vector<int64_t> TaskPlan::label_map() const {
  std::vector<int64_t> map(static_cast<size_t>(dataset_classes_), -1);
  const int64_t covered = num_classes();
  for (int64_t pos = 0; pos < covered; ++pos) map[class_order_[pos]] = pos;
  return map;
}

std::vector<int64_t> TaskPlan::indices_in_range(const std::vector<int64_t>& labels, int64_t lo, int64_t hi) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= lo && labels[i] < hi) out.push_back(static_cast<int64_t>(i));
  }
  return out;
}

}  // namespace lorasub::data
