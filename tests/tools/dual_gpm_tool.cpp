// Runs InfLoRA's DualGPM memory over a sequence of covariances for tests/scripts/dual_gpm.sh.
// Input (text): d r n, then n times: a threshold and d*d covariance entries (row-major).
// Output per step: "design" and the r x d A_t designed from the memory before the update,
// then "memory KIND k" and the d x d projector of the memory after it (%.17g each).
#include <ATen/ATen.h>

#include <cstdio>
#include <iostream>

#include "lorasub/method/dual_gpm.h"

int main() {
  using lorasub::method::GpmMemory;
  int64_t d = 0, r = 0, n = 0;
  if (!(std::cin >> d >> r >> n) || d < 1 || r < 1 || n < 1) {
    std::fprintf(stderr, "dual_gpm_tool: expected 'd r n' first\n");
    return 2;
  }
  GpmMemory memory;
  for (int64_t step = 0; step < n; ++step) {
    double threshold = 0;
    std::cin >> threshold;
    at::Tensor c = at::empty({d, d}, at::kDouble);
    double* p = c.data_ptr<double>();
    for (int64_t i = 0; i < d * d; ++i) std::cin >> p[i];
    if (!std::cin) {
      std::fprintf(stderr, "dual_gpm_tool: step %lld: short input\n", static_cast<long long>(step));
      return 2;
    }
    const at::Tensor a = lorasub::method::design_down_projection(c, memory, r).to(at::kDouble).contiguous();
    std::printf("design\n");
    for (int64_t i = 0; i < a.numel(); ++i) std::printf("%.17g\n", a.data_ptr<double>()[i]);
    memory = lorasub::method::update_memory(memory, c, threshold);
    const at::Tensor proj = memory.columns() > 0 ? memory.projector().contiguous() : at::zeros({d, d}, at::kDouble);
    std::printf("memory %s %lld\n", GpmMemory::kind_name(memory.kind), static_cast<long long>(memory.columns()));
    for (int64_t i = 0; i < d * d; ++i) std::printf("%.17g\n", proj.data_ptr<double>()[i]);
  }
  return 0;
}
