// The drift-resistant space of one block: from the uncentred covariance C of the
// block's LN1 inputs under the subtracted weights, keep the top-k eigenvectors where
// k is the smallest j with sum_{i<=j} l_i / sum l_i >= energy, and project with
// P = V_k V_k^T / ||V_k V_k^T||_F = V_k V_k^T / sqrt(k)  [ref: the 1/sqrt(k) scale].
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace lorasub::method {

struct DrsProjector {
  at::Tensor p;      // d x d float32
  int64_t kept = 0;  // k
};

// cov: d x d symmetric PSD, on any device. The eigen-decomposition runs on the host in
// float64 (LAPACK); P comes back on cov's device.
DrsProjector make_projector(const at::Tensor& cov, double energy);

// k for eigenvalues sorted descending (exposed for tests).
int64_t kept_dimensions(const std::vector<double>& eigenvalues_desc, double energy);

}  // namespace lorasub::method
