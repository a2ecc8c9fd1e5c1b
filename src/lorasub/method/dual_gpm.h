// InfLoRA's subspace bookkeeping (liangyanshuo/InfLoRA e08b00e, methods/inflora.py): per
// block, the DualGPM memory of the input space earlier tasks used, and the design of a new
// task's frozen down-projection A_t from the task's input covariance with that space
// removed. Everything runs on the host in float64 (the reference: float32 numpy/torch).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace lorasub::method {

// One block's memory. kRemove: `basis` (d x k, orthonormal columns) spans the space
// earlier tasks used. kRetain: it spans that space's complement (after the dual switch,
// once the used space passes d/2 columns). Empty (k = 0) before the first update.
struct GpmMemory {
  enum class Kind { kRemove, kRetain };
  Kind kind = Kind::kRemove;
  at::Tensor basis;  // d x k float64 on the host; undefined = empty

  int64_t columns() const;
  // P = basis basis^T (d x d float64), or undefined when empty.
  at::Tensor projector() const;
  // The dimension of the space earlier tasks used (k, or d - k when retained).
  int64_t used_dims(int64_t d) const;
  static const char* kind_name(Kind k) { return k == Kind::kRemove ? "remove" : "retain"; }
};

// The reference's threshold after task t (0-based) of T: lamb + (lame - lamb) * t / T.
double gpm_threshold(double lamb, double lame, int64_t t, int64_t tasks);

// A_t (r x d, float32 on the host): the top r left singular vectors of C' as rows,
// divided by sqrt(3), where C' = C with no memory, (I - P) C with a kRemove memory and
// P C with a kRetain one (the non-symmetric product, as the reference decomposes it).
// Each vector's sign is fixed so that its largest-magnitude entry is positive (the
// reference leaves it to LAPACK; B_t starts at 0, so the sign does not change B_t A_t).
at::Tensor design_down_projection(const at::Tensor& cov, const GpmMemory& memory, int64_t rank);

// The memory after a task whose (trained-model) input covariance is `cov` (d x d), with
// energy threshold `threshold` on squared singular values, then the dual switch.
GpmMemory update_memory(const GpmMemory& memory, const at::Tensor& cov, double threshold);

}  // namespace lorasub::method
