#include "lorasub/method/schedule.h"

#include <algorithm>
#include <cmath>

namespace lorasub::method {

double lr_multiplier(int64_t epoch, int64_t k_epochs) {
  if (k_epochs <= 1) return 1.0;
  const double e = static_cast<double>(std::max<int64_t>(epoch - 1, 0));
  return std::cos(99.0 * M_PI * e / (200.0 * static_cast<double>(k_epochs - 1)));
}

}  // namespace lorasub::method
