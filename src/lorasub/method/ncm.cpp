#include "lorasub/method/ncm.h"

#include "lorasub/method/normalize.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

namespace lorasub::method {

at::Tensor ncm_distances(const at::Tensor& features, const at::Tensor& prototypes) {
  at::NoGradGuard no_grad;
  at::Tensor f = l2_normalize(features, 1e-8);
  at::Tensor p = l2_normalize(prototypes, 1e-8);
  return (f * f).sum(1, true) + (p * p).sum(1).unsqueeze(0) - 2.0 * at::matmul(f, p.transpose(0, 1));
}

at::Tensor ncm_predict(const at::Tensor& features, const at::Tensor& prototypes) {
  return ncm_distances(features, prototypes).argmin(1);
}

}  // namespace lorasub::method
