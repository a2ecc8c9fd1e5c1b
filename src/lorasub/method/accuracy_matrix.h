// The accuracy matrix R[i][j] (% correct on task j's classes after training task i,
// j <= i) and the metrics derived from it. Torch-free.
#pragma once
#include <cstdint>
#include <vector>

namespace lorasub::method {

class AccuracyMatrix {
 public:
  // Row for task i = rows() : per-task accuracies (size i + 1) and A_i over all seen
  // test images (weighted by test-set sizes, not the mean of the row).
  void add_row(std::vector<double> per_task, double overall);
  int64_t rows() const { return static_cast<int64_t>(r_.size()); }
  const std::vector<std::vector<double>>& matrix() const { return r_; }
  const std::vector<double>& overall() const { return a_; }
  double a_last() const;
  // Mean of A_1..A_T, each rounded to 2 decimals first [ref].
  double a_avg() const;
  // Mean over j < T-1 of (max over j <= i < T-1 of R[i][j]) - R[T-1][j]; 0 with one task.
  double forgetting() const;
  // Mean over j < T-1 of R[T-1][j] - R[j][j]; 0 with one task.
  double bwt() const;

 private:
  std::vector<std::vector<double>> r_;
  std::vector<double> a_;
};

double round2(double x);

}  // namespace lorasub::method
