// The augmented triplet loss against a brute-force double loop.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "lorasub/method/triplet_loss.h"

namespace lorasub::method {
namespace {

using Rows = std::vector<std::vector<double>>;

Rows rows_of(const at::Tensor& t) {
  at::Tensor c = t.to(at::kDouble).contiguous();
  Rows r(c.size(0), std::vector<double>(c.size(1)));
  for (int64_t i = 0; i < c.size(0); ++i)
    for (int64_t j = 0; j < c.size(1); ++j) r[i][j] = c[i][j].item<double>();
  return r;
}

std::vector<double> unit(std::vector<double> v) {
  double n = 0;
  for (double x : v) n += x * x;
  n = std::max(std::sqrt(n), 1e-12);
  for (double& x : v) x /= n;
  return v;
}

double brute_force(const Rows& feats, const std::vector<int64_t>& labels, const Rows& protos, double margin,
                   size_t begin, size_t end) {
  Rows f;
  for (const auto& r : feats) f.push_back(unit(r));
  auto dot = [](const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (size_t k = 0; k < a.size(); ++k) s += a[k] * b[k];
    return s;
  };
  double total = 0;
  for (size_t i = begin; i < end; ++i) {
    double ap = -1, an = INFINITY;
    bool has_neg = false;
    for (size_t j = 0; j < f.size(); ++j) {
      const double d = std::sqrt(std::max(dot(f[i], f[i]) + dot(f[j], f[j]) - 2 * dot(f[i], f[j]), 1e-12));
      if (labels[i] == labels[j])
        ap = std::max(ap, d);
      else {
        an = std::min(an, d);
        has_neg = true;
      }
    }
    if (!has_neg) an = ap + margin;
    for (const auto& p : protos) {
      double s = 0;
      for (size_t k = 0; k < p.size(); ++k) s += (f[i][k] - p[k]) * (f[i][k] - p[k]);
      an = std::min(an, std::max(std::sqrt(s), 1e-12));
    }
    total += std::max(0.0, ap - an + margin);
  }
  return total;
}

struct Case {
  std::vector<int64_t> labels;
  int64_t protos;
  double margin;
  int64_t begin, end;
};

TEST(TripletLoss, MatchesBruteForce) {
  const std::vector<Case> cases = {
      {{0, 1, 0, 1, 2, 2}, 0, 1.0, 0, 6},  // in-batch negatives only
      {{3, 3, 3, 3}, 0, 2.0, 0, 4},        // no negative at all: loss 0
      {{3, 3, 3, 3}, 3, 2.0, 0, 4},        // only prototype negatives
      {{0, 1, 0, 1, 2, 2}, 4, 2.0, 0, 6},  // both
      {{0, 1, 0, 1, 2, 2}, 2, 0.5, 2, 5},  // anchors of one rank's slice
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    const Case& k = cases[c];
    at::Tensor f = at::randn({static_cast<int64_t>(k.labels.size()), 5}, at::kFloat);
    at::Tensor labels = at::tensor(k.labels, at::kLong);
    at::Tensor protos = k.protos ? at::randn({k.protos, 5}) : at::Tensor();
    if (protos.defined()) protos = protos / protos.norm(2, {1}, true);
    const double got = triplet_loss_sum(f, labels, protos, k.margin, k.begin, k.end).item<double>();
    const double want =
        brute_force(rows_of(f), k.labels, protos.defined() ? rows_of(protos) : Rows{}, k.margin, k.begin, k.end);
    EXPECT_NEAR(got, want, 1e-4 * std::max(1.0, want)) << "case " << c;
  }
}

TEST(TripletLoss, NoNegativeGivesZero) {
  at::Tensor f = at::randn({4, 3});
  at::Tensor l = at::zeros({4}, at::kLong);
  // d_an = d_ap + margin, so each term is d_ap - (d_ap + margin) + margin: zero up to
  // float rounding, exactly as the reference computes it.
  EXPECT_NEAR(triplet_loss_sum(f, l, at::Tensor(), 2.0, 0, 4).item<double>(), 0.0, 1e-5);
}

TEST(TripletLoss, GradientMatchesFiniteDifference) {
  at::Tensor f = at::randn({5, 4}, at::kDouble).requires_grad_(true);
  at::Tensor l = at::tensor({0, 1, 0, 1, 1}, at::kLong);
  at::Tensor p = at::randn({2, 4}, at::kDouble);
  p = p / p.norm(2, {1}, true);
  triplet_loss_sum(f, l, p, 1.0, 0, 5).backward();
  at::Tensor g = f.grad().clone();
  at::NoGradGuard ng;
  const double h = 1e-6;
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t k = 0; k < 4; ++k) {
      at::Tensor fp = f.detach().clone(), fm = f.detach().clone();
      fp[i][k] += h;
      fm[i][k] -= h;
      const double num =
          (triplet_loss_sum(fp, l, p, 1.0, 0, 5) - triplet_loss_sum(fm, l, p, 1.0, 0, 5)).item<double>() / (2 * h);
      EXPECT_NEAR(g[i][k].item<double>(), num, 1e-4) << i << "," << k;
    }
}

}  // namespace
}  // namespace lorasub::method

namespace lorasub::method {
namespace {

// The distributed ATL: each rank differentiates the loss of its own anchor range with
// respect to every feature of the gathered global batch, and the gradients are summed.
// That must equal differentiating the whole batch at once.
TEST(TripletLoss, AnchorRangesSumToWholeBatch) {
  at::manual_seed(3);
  for (int trial = 0; trial < 20; ++trial) {
    at::Tensor f0 = at::randn({7, 16});
    at::Tensor l = at::tensor({0, 1, 0, 0, 1, 1, 0}, at::kLong);
    at::Tensor whole = f0.clone().requires_grad_(true);
    triplet_loss_sum(whole, l, at::Tensor(), 2.0, 0, 7).backward();
    at::Tensor parts = f0.clone().requires_grad_(true);
    triplet_loss_sum(parts, l, at::Tensor(), 2.0, 0, 4).backward();
    triplet_loss_sum(parts, l, at::Tensor(), 2.0, 4, 7).backward();
    const double scale = whole.grad().abs().max().item<double>();
    EXPECT_LT((whole.grad() - parts.grad()).abs().max().item<double>(), 1e-5 * scale) << "trial " << trial;
  }
}

}  // namespace
}  // namespace lorasub::method
