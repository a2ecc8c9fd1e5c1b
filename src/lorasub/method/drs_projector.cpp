#include "lorasub/method/drs_projector.h"

#include <ATen/ATen.h>

#include <cmath>
#include <stdexcept>

namespace lorasub::method {

int64_t kept_dimensions(const std::vector<double>& eig, double energy) {
  double total = 0.0;
  for (double l : eig) total += l;
  if (!(total > 0.0)) throw std::runtime_error("DRS: covariance has no energy (all eigenvalues <= 0)");
  double run = 0.0;
  for (size_t j = 0; j < eig.size(); ++j) {
    run += eig[j];
    if (run / total >= energy) return static_cast<int64_t>(j + 1);
  }
  return static_cast<int64_t>(eig.size());
}

DrsProjector make_projector(const at::Tensor& cov, double energy) {
  // On the host whatever the device: LAPACK's eigh in float64 gives every rank and every
  // device the same k, and the eigenvalues are read on the host.
  at::Tensor c = cov.to(at::TensorOptions(at::kDouble).device(at::kCPU));
  c = (c + c.transpose(0, 1)) * 0.5;       // exact symmetry for eigh
  auto [vals, vecs] = at::linalg_eigh(c);  // ascending
  vals = vals.flip({0}).contiguous();
  vecs = vecs.flip({1});
  std::vector<double> eig(vals.data_ptr<double>(), vals.data_ptr<double>() + vals.numel());
  DrsProjector out;
  out.kept = kept_dimensions(eig, energy);
  at::Tensor vk = vecs.narrow(1, 0, out.kept);
  at::Tensor p = at::matmul(vk, vk.transpose(0, 1)) / std::sqrt(static_cast<double>(out.kept));
  out.p = p.to(at::TensorOptions(at::kFloat).device(cov.device())).contiguous();
  return out;
}

}  // namespace lorasub::method
