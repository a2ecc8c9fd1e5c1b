// Sums the gradients of a fixed list of parameters across ranks through one fused
// GradBucket, plus a few float control slots (loss sums, the stop flag) riding along.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "lorasub/dist/grad_bucket.h"

namespace lorasub::method {

enum ControlSlot : size_t { kSlotStop = 0, kSlotCeSum = 1, kSlotAtlSum = 2, kNumSlots = 3 };

class GradSync {
 public:
  explicit GradSync(std::vector<at::Tensor> params);
  // Copies .grad() (zeros where undefined) and `control` into the bucket, all-reduces,
  // writes the sums back into .grad() and returns the summed control slots.
  std::vector<float> allreduce(dist::Communicator& comm, const std::vector<float>& control);
  size_t bytes() const { return bucket_.bytes(); }
  // Whether the last all-reduced buffer (gradients and loss sums) was all finite. The
  // same on every rank, since every rank holds the same sums.
  bool finite() const { return finite_; }
  // Wall time of the last all-reduce (the collective alone, not the copies), seconds.
  double last_seconds() const { return last_seconds_; }

 private:
  std::vector<at::Tensor> params_;
  dist::GradBucket bucket_;
  bool finite_ = true;
  double last_seconds_ = 0.0;
};

}  // namespace lorasub::method
