#include "lorasub/dist/grad_bucket.h"

#include <algorithm>

namespace lorasub::dist {

GradBucket::GradBucket(std::vector<size_t> sizes, size_t control_slots)
    : sizes_(std::move(sizes)) {
  offsets_.reserve(sizes_.size());
  for (size_t s : sizes_) {
    offsets_.push_back(grads_total_);
    grads_total_ += s;
  }
  buffer_.assign(grads_total_ + control_slots, 0.0f);
}

void GradBucket::allreduce(Communicator& comm) { comm.allreduce_sum(buffer_.data(), buffer_.size()); }

void GradBucket::zero() { std::fill(buffer_.begin(), buffer_.end(), 0.0f); }

bool GradBucket::all_finite() const {
  // x - x is 0 for finite x and NaN for NaN/Inf: one branch-free pass the compiler vectorizes.
  float acc = 0.0f;
  for (float x : buffer_) acc += x - x;
  return acc == 0.0f;
}

}  // namespace lorasub::dist
