#include "lorasub/method/accuracy_matrix.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lorasub::method {

double round2(double x) { return std::round(x * 100.0) / 100.0; }

void AccuracyMatrix::add_row(std::vector<double> per_task, double overall) {
  if (per_task.size() != r_.size() + 1)
    throw std::invalid_argument("AccuracyMatrix: row " + std::to_string(r_.size()) + " needs " +
                                std::to_string(r_.size() + 1) + " entries");
  r_.push_back(std::move(per_task));
  a_.push_back(overall);
}

double AccuracyMatrix::a_last() const { return a_.empty() ? 0.0 : a_.back(); }

double AccuracyMatrix::a_avg() const {
  if (a_.empty()) return 0.0;
  double s = 0.0;
  for (double a : a_) s += round2(a);
  return s / static_cast<double>(a_.size());
}

double AccuracyMatrix::forgetting() const {
  const size_t t = r_.size();
  if (t < 2) return 0.0;
  double s = 0.0;
  for (size_t j = 0; j + 1 < t; ++j) {
    double best = r_[j][j];
    for (size_t i = j; i + 1 < t; ++i) best = std::max(best, r_[i][j]);
    s += best - r_[t - 1][j];
  }
  return s / static_cast<double>(t - 1);
}

double AccuracyMatrix::bwt() const {
  const size_t t = r_.size();
  if (t < 2) return 0.0;
  double s = 0.0;
  for (size_t j = 0; j + 1 < t; ++j) s += r_[t - 1][j] - r_[j][j];
  return s / static_cast<double>(t - 1);
}

}  // namespace lorasub::method
