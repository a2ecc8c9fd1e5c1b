// The reference learning-rate schedule, per epoch j (0-based) of a task:
// lr = base * cos(99 pi e / (200 (K - 1))) with e = max(j - 1, 0), so epochs 0 and 1
// both run at the base rate [ref]; K is the later-task epoch count even in task 0 [ref].
// K = 1 divides by zero in the reference; lorasub defines the multiplier as 1 there.
#pragma once
#include <cstdint>

namespace lorasub::method {

double lr_multiplier(int64_t epoch, int64_t k_epochs);

}  // namespace lorasub::method
