// Sums the gradients of a fixed list of parameters across ranks through one fused
// buffer on the parameters' device, plus a few float control slots (the stop flag, the
// loss sums) riding along. Each parameter's .grad() is a view into the buffer, so
// backward accumulates straight into it and nothing is copied around the all-reduce
// (the "gradient as bucket view" of DDP). Per step there is one host synchronisation:
// the read of the control slots and of the buffer's finiteness, after the all-reduce.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "lorasub/dist/grad_bucket.h"

namespace lorasub::method {

enum ControlSlot : size_t { kSlotStop = 0, kSlotCeSum = 1, kSlotAtlSum = 2, kNumSlots = 3 };

class GradSync {
 public:
  // params: float32 tensors on one device; their gradients become views into the buffer.
  explicit GradSync(std::vector<at::Tensor> params);
  // Drops the parameters' gradient views (the buffer goes with this object).
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;
  // Zeros every gradient and control slot (before a step's backward pass).
  void zero();
  // Sets the control slots (`control[s]`: a scalar tensor on any device, or undefined
  // for 0; nothing waits for it), all-reduces the whole buffer in place and returns the
  // summed control slots.
  std::vector<float> allreduce(dist::Communicator& comm, const std::vector<at::Tensor>& control);
  size_t bytes() const { return layout_.bytes(); }
  // Whether the last all-reduced buffer (gradients and loss sums) was all finite. The
  // same on every rank, since every rank holds the same sums.
  bool finite() const { return finite_; }
  // Wall time of the last all-reduce until its result was readable, seconds. (On a GPU
  // this includes the step's queued backward kernels the all-reduce waits for.)
  double last_seconds() const { return last_seconds_; }
  const at::Tensor& buffer() const { return buffer_; }
  // The gradients' part of the buffer (without the control slots), in parameter order.
  at::Tensor gradients() const { return buffer_.narrow(0, 0, static_cast<int64_t>(layout_.control_offset(0))); }

 private:
  std::vector<at::Tensor> params_;
  dist::GradBucket layout_;
  at::Tensor buffer_;
  bool finite_ = true;
  double last_seconds_ = 0.0;
};

}  // namespace lorasub::method
