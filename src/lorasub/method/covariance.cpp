#include "lorasub/method/covariance.h"

#include <ATen/ATen.h>

#include <stdexcept>

namespace lorasub::method {

CovarianceAccumulator::CovarianceAccumulator(int64_t blocks, int64_t dim)
    : counts_(static_cast<size_t>(blocks), 0) {
  for (int64_t i = 0; i < blocks; ++i) sums_.push_back(at::zeros({dim, dim}, at::kDouble));
}

void CovarianceAccumulator::add(int64_t block, const at::Tensor& z) {
  at::NoGradGuard no_grad;
  at::Tensor flat = z.detach().reshape({-1, z.size(-1)}).to(at::kDouble);
  sums_.at(block).addmm_(flat.transpose(0, 1), flat);
  counts_.at(block) += flat.size(0);
}

void CovarianceAccumulator::allreduce(dist::Communicator& comm) {
  for (auto& s : sums_) comm.allreduce_sum(s.data_ptr<double>(), static_cast<size_t>(s.numel()));
  comm.allreduce_sum(counts_.data(), counts_.size());
}

at::Tensor CovarianceAccumulator::covariance(int64_t block) const {
  if (counts_.at(block) == 0) throw std::runtime_error("covariance pass saw no tokens");
  return sums_.at(block) / static_cast<double>(counts_.at(block));
}

}  // namespace lorasub::method
