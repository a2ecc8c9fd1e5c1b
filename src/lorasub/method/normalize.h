// torch.nn.functional.normalize(x, p=2, dim=1, eps): x / max(||x||_2, eps), row-wise.
#pragma once
#include <ATen/core/Tensor.h>

namespace lorasub::method {

at::Tensor l2_normalize(const at::Tensor& x, double eps);

}  // namespace lorasub::method
