#include "lorasub/dist/grad_bucket.h"

#include <stdexcept>
#include <string>

namespace lorasub::dist {

GradBucket::GradBucket(std::vector<size_t> sizes, size_t control_slots)
    : sizes_(std::move(sizes)), control_slots_(control_slots) {
  offsets_.reserve(sizes_.size());
  for (size_t s : sizes_) {
    offsets_.push_back(grads_total_);
    grads_total_ += s;
  }
}

size_t GradBucket::control_offset(size_t slot) const {
  if (slot >= control_slots_)
    throw std::out_of_range("GradBucket: control slot " + std::to_string(slot) + " of " +
                            std::to_string(control_slots_));
  return grads_total_ + slot;
}

void GradBucket::allreduce(Communicator& comm, float* buffer) const { comm.allreduce_sum(buffer, elements()); }

}  // namespace lorasub::dist
