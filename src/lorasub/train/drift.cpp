#include "lorasub/train/drift.h"

#include <ATen/ATen.h>

#include <cmath>

namespace lorasub::train {

std::vector<DriftRecord> DriftTracker::measure(int64_t t, const at::Tensor& test_means, const std::vector<double>& acc,
                                               const std::vector<double>& fresh_acc) const {
  std::vector<DriftRecord> out;
  // No reference: a run resumed from a checkpoint written without train.drift (or by an
  // older lorasub) measures the tasks it finishes from then on.
  if (t == 0 || !reference_.defined()) return out;
  const at::Tensor now = test_means.to(at::kCPU).to(at::kDouble);
  const at::Tensor ref = reference_.to(at::kDouble);
  for (int64_t j = 0; j < t; ++j) {
    double sum = 0;
    int64_t n = 0;
    for (int64_t c = plan_.first_class(j); c < plan_.end_class(j); ++c) {
      const double na = ref[c].norm().item<double>(), nb = now[c].norm().item<double>();
      if (na == 0 || nb == 0) continue;  // a class without test images
      sum += 1.0 - ref[c].dot(now[c]).item<double>() / (na * nb);
      ++n;
    }
    if (n == 0) continue;  // no reference for task j (see above), or no test images
    DriftRecord r;
    r.task = j;
    r.after_task = t;
    r.mean_cosine_distance = sum / static_cast<double>(n);
    r.stale_accuracy_drop = fresh_acc.at(static_cast<size_t>(j)) - acc.at(static_cast<size_t>(j));
    out.push_back(r);
  }
  return out;
}

void DriftTracker::remember(int64_t t, const at::Tensor& test_means) {
  if (!reference_.defined()) reference_ = at::zeros({plan_.num_classes(), test_means.size(1)}, at::kFloat);
  const int64_t first = plan_.first_class(t), k = plan_.task_size(t);
  reference_.narrow(0, first, k).copy_(test_means.to(at::kCPU).narrow(0, first, k));
}

}  // namespace lorasub::train
