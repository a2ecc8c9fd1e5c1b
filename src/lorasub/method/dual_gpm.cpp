#include "lorasub/method/dual_gpm.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <stdexcept>
#include <tuple>
#include <vector>

namespace lorasub::method {
namespace {

at::Tensor host_f64(const at::Tensor& t) { return t.detach().to(at::TensorOptions(at::kDouble).device(at::kCPU)); }

std::vector<double> to_vector(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// Left singular vectors (descending singular values) and the singular values.
std::pair<at::Tensor, at::Tensor> left_svd(const at::Tensor& m, bool full = false) {
  auto [u, s, vh] = at::linalg_svd(m, /*full_matrices=*/full);
  (void)vh;
  return {u, s};
}

// Columns signed so that each one's largest-magnitude entry is positive.
at::Tensor fix_signs(at::Tensor u) {
  if (u.size(1) == 0) return u;
  const at::Tensor rows = u.abs().argmax(0);
  const at::Tensor picked = u.gather(0, rows.unsqueeze(0));
  return u * at::where(picked < 0, -1.0, 1.0);
}

// The dual switch: a kRemove basis past d/2 columns becomes its complement, kRetain.
GpmMemory dual_switch(GpmMemory m, int64_t d) {
  const int64_t k = m.columns();
  if (m.kind == GpmMemory::Kind::kRemove && 2 * k > d) {
    at::Tensor full = left_svd(m.basis, /*full=*/true).first;
    m.basis = fix_signs(full.narrow(1, k, d - k).contiguous());
    m.kind = GpmMemory::Kind::kRetain;
  } else if (m.kind == GpmMemory::Kind::kRetain && 2 * k > d) {
    throw std::logic_error("DualGPM: a retained basis of " + std::to_string(k) + " columns in dimension " +
                           std::to_string(d));
  }
  return m;
}

// The first update: the top vectors whose cumulative squared-singular-value energy stays
// strictly below the threshold (the crossing vector is left out), at least one.
GpmMemory first_memory(const at::Tensor& c, double threshold) {
  auto [u, s] = left_svd(c);
  const std::vector<double> s2 = to_vector(s.pow(2));
  double total = 0;
  for (double x : s2) total += x;
  if (!(total > 0)) throw std::runtime_error("InfLoRA: the input covariance has no energy");
  int64_t r = 0;
  double cum = 0;
  for (double x : s2) {
    cum += x / total;
    if (cum < threshold) ++r;
  }
  GpmMemory m;
  m.basis = fix_signs(u.narrow(1, 0, std::max<int64_t>(r, 1)).contiguous());
  return m;
}

}  // namespace

int64_t GpmMemory::columns() const { return basis.defined() ? basis.size(1) : 0; }

at::Tensor GpmMemory::projector() const {
  if (columns() == 0) return {};
  return at::matmul(basis, basis.transpose(0, 1));
}

int64_t GpmMemory::used_dims(int64_t d) const { return kind == Kind::kRemove ? columns() : d - columns(); }

double gpm_threshold(double lamb, double lame, int64_t t, int64_t tasks) {
  return (lame - lamb) * static_cast<double>(t) / static_cast<double>(tasks) + lamb;
}

at::Tensor design_down_projection(const at::Tensor& cov, const GpmMemory& memory, int64_t rank) {
  at::NoGradGuard no_grad;
  const at::Tensor c = host_f64(cov);
  at::Tensor cp = c;
  if (memory.kind == GpmMemory::Kind::kRetain || memory.columns() > 0) {
    const at::Tensor p = memory.columns() > 0 ? memory.projector() : at::zeros_like(c);
    cp = memory.kind == GpmMemory::Kind::kRemove ? c - at::matmul(p, c) : at::matmul(p, c);
  }
  auto [u, s] = left_svd(cp);
  if (!(s.max().item<double>() > 0))
    throw std::runtime_error("InfLoRA: the memory of earlier tasks leaves no input dimension for the new adapter");
  const at::Tensor a = fix_signs(u.narrow(1, 0, rank).contiguous()).transpose(0, 1) / std::sqrt(3.0);
  return a.to(at::kFloat).contiguous();
}

GpmMemory update_memory(const GpmMemory& memory, const at::Tensor& cov, double threshold) {
  at::NoGradGuard no_grad;
  const at::Tensor c = host_f64(cov);
  const int64_t d = c.size(0);
  if (memory.columns() == 0 && memory.kind == GpmMemory::Kind::kRemove)
    return dual_switch(first_memory(c, threshold), d);
  const double total = c.pow(2).sum().item<double>();  // = sum of squared singular values
  if (!(total > 0)) throw std::runtime_error("InfLoRA: the input covariance has no energy");
  const at::Tensor m = memory.basis;
  const bool remove = memory.kind == GpmMemory::Kind::kRemove;
  const at::Tensor proj = at::matmul(m, at::matmul(m.transpose(0, 1), c));
  auto [u, s] = left_svd(remove ? c - proj : proj);
  const std::vector<double> s2 = to_vector(s.pow(2));
  double outside = 0;
  for (double x : s2) outside += x;
  int64_t r = 0;
  if (remove) {
    double acc = (total - outside) / total;  // already held by the memory
    for (size_t i = 0; i < s2.size() && acc < threshold; ++i, ++r) acc += s2[i] / total;
  } else {
    double acc = outside / total;  // energy outside the used space
    for (size_t i = 0; i < s2.size() && acc >= 1.0 - threshold; ++i, ++r) acc -= s2[i] / total;
  }
  if (r == 0) return memory;
  GpmMemory next;
  next.kind = memory.kind;
  const at::Tensor ur = fix_signs(u.narrow(1, 0, r).contiguous());
  if (remove) {
    at::Tensor b = at::cat({m, ur}, 1);
    next.basis = b.narrow(1, 0, std::min<int64_t>(b.size(1), d)).contiguous();
  } else {
    const at::Tensor f = m - at::matmul(ur, at::matmul(ur.transpose(0, 1), m));
    const int64_t keep = std::max<int64_t>(m.size(1) - r, 0);
    next.basis = fix_signs(left_svd(f, /*full=*/true).first.narrow(1, 0, keep).contiguous());
  }
  return dual_switch(next, d);
}

}  // namespace lorasub::method
