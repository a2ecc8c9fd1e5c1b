// The covariance pass: per block, the float64 sum of z z^T over every token of every
// image (z = LN1 output) and the token count. Sums and counts are all-reduced so every
// rank derives the same projector from the same C = sum / count.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "lorasub/dist/communicator.h"

namespace lorasub::method {

class CovarianceAccumulator {
 public:
  // Sums live on `device` (float64), where the features are.
  CovarianceAccumulator(int64_t blocks, int64_t dim, at::Device device = at::kCPU);
  // z: B x T x d (any float dtype); adds z^T z over all B*T tokens to block's sum.
  void add(int64_t block, const at::Tensor& z);
  void allreduce(dist::Communicator& comm);
  // C_block = sum / count (float64).
  at::Tensor covariance(int64_t block) const;
  int64_t count(int64_t block) const { return counts_.at(block); }
  const at::Tensor& sum(int64_t block) const { return sums_.at(block); }

 private:
  std::vector<at::Tensor> sums_;
  std::vector<int64_t> counts_;
};

}  // namespace lorasub::method
