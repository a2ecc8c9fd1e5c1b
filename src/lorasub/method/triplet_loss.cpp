#include "lorasub/method/triplet_loss.h"

#include "lorasub/method/normalize.h"

#include <ATen/ATen.h>

#include <limits>

namespace lorasub::method {

at::Tensor triplet_loss_sum(const at::Tensor& features, const at::Tensor& labels, const at::Tensor& old_protos,
                            double margin, int64_t anchor_begin, int64_t anchor_end) {
  const int64_t n = anchor_end - anchor_begin;
  if (n <= 0) return features.sum() * 0.0;
  at::Tensor f = l2_normalize(features, 1e-12);  // F.normalize defaults
  at::Tensor sq = (f * f).sum(1);
  at::Tensor fa = f.narrow(0, anchor_begin, n);
  at::Tensor sqa = sq.narrow(0, anchor_begin, n);
  at::Tensor dist2 = sqa.unsqueeze(1) + sq.unsqueeze(0) - 2.0 * at::matmul(fa, f.transpose(0, 1));
  at::Tensor dist = at::clamp_min(dist2, 1e-12).sqrt();  // n x N
  at::Tensor same = labels.narrow(0, anchor_begin, n).unsqueeze(1).eq(labels.unsqueeze(0));
  const double inf = std::numeric_limits<double>::infinity();
  at::Tensor d_ap = std::get<0>(dist.masked_fill(same.logical_not(), -inf).max(1));
  at::Tensor neg = std::get<0>(dist.masked_fill(same, inf).min(1));
  at::Tensor has_neg = same.logical_not().any(1);
  at::Tensor d_an = at::where(has_neg, neg, d_ap + margin);
  if (old_protos.defined() && old_protos.size(0) > 0) {
    // |f_i - p_c| by explicit differences, as the reference's cdist-free loop does.
    at::Tensor diff = fa.unsqueeze(1) - old_protos.unsqueeze(0);  // n x P x d
    at::Tensor pd = at::clamp_min(diff.norm(2, {2}), 1e-12);
    d_an = at::minimum(d_an, std::get<0>(pd.min(1)));
  }
  return at::clamp_min(d_ap - d_an + margin, 0.0).sum();
}

}  // namespace lorasub::method
