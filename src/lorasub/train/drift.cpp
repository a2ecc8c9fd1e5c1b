#include "lorasub/train/drift.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "lorasub/core/rng.h"

namespace lorasub::train {

std::vector<std::vector<int64_t>> draw_drift_sample(const std::vector<int64_t>& labels, int64_t num_classes,
                                                    int64_t per_class, uint64_t seed) {
  std::vector<std::vector<int64_t>> of_class(static_cast<size_t>(num_classes));
  for (size_t i = 0; i < labels.size(); ++i) of_class.at(static_cast<size_t>(labels[i])).push_back(static_cast<int64_t>(i));
  for (int64_t c = 0; c < num_classes; ++c) {
    std::vector<int64_t>& idx = of_class[static_cast<size_t>(c)];
    const int64_t n = static_cast<int64_t>(idx.size()), k = std::min(n, per_class);
    Rng rng(Stream::kDriftSample, {seed, static_cast<uint64_t>(c)});
    for (int64_t i = 0; i < k; ++i) std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(i + rng.below(n - i))]);
    idx.resize(static_cast<size_t>(k));
    std::sort(idx.begin(), idx.end());
  }
  return of_class;
}

int64_t auto_drift_sample(const data::TaskPlan& plan, const std::vector<int64_t>& images_per_task,
                          int64_t init_epochs, int64_t epochs) {
  constexpr double kShare = 0.01, kForwardsPerTrainedImage = 3.0;
  constexpr int64_t kMost = 64;
  double training = 0, per_image = 0;  // forwards: of the training, of one sample image per class a run
  for (int64_t t = 0; t < plan.num_tasks(); ++t) {
    training += kForwardsPerTrainedImage * static_cast<double>(images_per_task.at(static_cast<size_t>(t)) *
                                                               (t == 0 ? init_epochs : epochs));
    per_image += static_cast<double>(plan.end_class(t));
  }
  const auto fit = static_cast<int64_t>(std::floor(kShare * training / std::max(1.0, per_image)));
  return std::clamp<int64_t>(fit, 1, kMost);
}

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

namespace lorasub::train {

at::Tensor DriftTracker::fresh_from_sample(int64_t t, const at::Tensor& stored, const at::Tensor& sample_now) {
  const at::Tensor now = sample_now.to(at::kCPU).to(at::kDouble);
  if (!sample_reference_.defined()) sample_reference_ = at::zeros({plan_.num_classes(), now.size(1)}, at::kFloat);
  at::Tensor fresh = stored.to(at::kCPU).to(at::kDouble);
  const int64_t first = plan_.first_class(t), k = plan_.task_size(t);
  for (int64_t c = 0; c < first; ++c) {
    const at::Tensor ref = sample_reference_[c].to(at::kDouble);
    if (ref.norm().item<double>() == 0)
      fresh[c].copy_(now[c]);
    else
      fresh[c].add_(now[c] - ref);
  }
  sample_reference_.narrow(0, first, k).copy_(now.narrow(0, first, k));
  return fresh.to(at::kFloat);
}

}  // namespace lorasub::train
