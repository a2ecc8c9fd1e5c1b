#include "lorasub/method/covariance.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <stdexcept>

#include "lorasub/method/tensor_comm.h"

namespace lorasub::method {

CovarianceAccumulator::CovarianceAccumulator(int64_t blocks, int64_t dim, at::Device device)
    : counts_(static_cast<size_t>(blocks), 0) {
  for (int64_t i = 0; i < blocks; ++i)
    sums_.push_back(at::zeros({dim, dim}, at::TensorOptions(at::kDouble).device(device)));
}

void CovarianceAccumulator::add(int64_t block, const at::Tensor& z) {
  at::NoGradGuard no_grad;
  at::Tensor flat = z.detach().reshape({-1, z.size(-1)}).to(at::kDouble);
  sums_.at(block).addmm_(flat.transpose(0, 1), flat);
  counts_.at(block) += flat.size(0);
}

void CovarianceAccumulator::allreduce(dist::Communicator& comm) {
  for (auto& s : sums_) allreduce_sum(comm, s);
  comm.allreduce_sum(counts_.data(), counts_.size());
}

at::Tensor CovarianceAccumulator::covariance(int64_t block) const {
  if (counts_.at(block) == 0) throw std::runtime_error("covariance pass saw no tokens");
  return sums_.at(block) / static_cast<double>(counts_.at(block));
}

}  // namespace lorasub::method
