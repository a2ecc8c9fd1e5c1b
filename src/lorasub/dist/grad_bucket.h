// The layout of one fused float buffer: every trainable gradient at its offset, then a
// few control slots (the stop flag, loss sums), so that a training step makes exactly
// one all-reduce. The buffer itself belongs to the caller (a tensor on the training
// device in the learner), so each gradient can be a view into it and nothing is copied
// in or out around the all-reduce.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>
#include "lorasub/dist/communicator.h"

namespace lorasub::dist {

class GradBucket {
 public:
  // sizes: element count of each gradient, in a fixed order; control_slots extra floats.
  explicit GradBucket(std::vector<size_t> sizes, size_t control_slots = 1);
  size_t offset(size_t i) const { return offsets_.at(i); }
  size_t grad_size(size_t i) const { return sizes_.at(i); }
  size_t control_offset(size_t slot) const;
  size_t control_slots() const { return control_slots_; }
  size_t elements() const { return grads_total_ + control_slots_; }
  size_t bytes() const { return elements() * sizeof(float); }
  // Sums buffer[0, elements()) in place across ranks: host memory, or device memory
  // where comm.device_buffers() (then queued: comm.wait() before reading it on the host).
  void allreduce(Communicator& comm, float* buffer) const;

 private:
  std::vector<size_t> sizes_;
  std::vector<size_t> offsets_;
  size_t grads_total_ = 0;
  size_t control_slots_ = 0;
};

}  // namespace lorasub::dist
