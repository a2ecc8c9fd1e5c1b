// One fused float buffer for every trainable gradient plus a few control slots
// (e.g. the stop flag), so a training step makes exactly one all-reduce.
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
  size_t num_grads() const { return offsets_.size(); }
  float* grad(size_t i) { return buffer_.data() + offsets_.at(i); }
  size_t grad_size(size_t i) const { return sizes_.at(i); }
  float& control(size_t slot) { return buffer_.at(grads_total_ + slot); }
  size_t bytes() const { return buffer_.size() * sizeof(float); }
  // Sums the whole buffer (grads and control slots) across ranks.
  void allreduce(Communicator& comm);
  void zero();
  // False when any gradient or control value is NaN or infinite.
  bool all_finite() const;

 private:
  std::vector<size_t> sizes_;
  std::vector<size_t> offsets_;
  size_t grads_total_ = 0;
  std::vector<float> buffer_;
};

}  // namespace lorasub::dist
