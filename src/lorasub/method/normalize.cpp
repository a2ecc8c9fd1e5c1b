#include "lorasub/method/normalize.h"

#include <ATen/ATen.h>

namespace lorasub::method {

at::Tensor l2_normalize(const at::Tensor& x, double eps) {
  return x / at::clamp_min(x.norm(2, {1}, true), eps).expand_as(x);
}

}  // namespace lorasub::method
