// Nearest class mean by cosine: test features and prototypes are L2-normalised
// (eps 1e-8), the prediction is the argmin of the squared euclidean distance.
#pragma once
#include <ATen/core/Tensor.h>

namespace lorasub::method {

// features: N x d, prototypes: C x d (unnormalised). Returns N int64 class indices.
at::Tensor ncm_predict(const at::Tensor& features, const at::Tensor& prototypes);

// The squared distances ncm_predict takes the argmin of: N x C. For unit vectors
// d2 = 2 - 2 cos, so 1 - d2 / 2 is the cosine similarity (lorasub predict's score).
at::Tensor ncm_distances(const at::Tensor& features, const at::Tensor& prototypes);

}  // namespace lorasub::method
