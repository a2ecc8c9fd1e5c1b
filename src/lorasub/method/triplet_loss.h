// The augmented triplet loss (ATL) on L2-normalised features f (see docs/METHOD.md):
// D_ij = sqrt(max(|f_i|^2 + |f_j|^2 - 2 f_i.f_j, 1e-12)); d_ap(i) = max over same-label
// j (i included); in-batch negative = min over other-label j, or d_ap(i) + margin when
// there is none; d_an(i) = min(in-batch negative, min_c max(|f_i - p_c|, 1e-12)) over
// the normalised old-class prototypes p_c; loss_i = max(0, d_ap - d_an + margin).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lorasub::method {

// features: N x d (unnormalised; the whole global batch), labels: N int64,
// old_protos: P x d normalised prototypes (P may be 0 / undefined).
// Returns the SUM of loss_i over anchors i in [anchor_begin, anchor_end) (mining runs
// over all N); divide by the global batch size for the mean.
at::Tensor triplet_loss_sum(const at::Tensor& features, const at::Tensor& labels, const at::Tensor& old_protos,
                            double margin, int64_t anchor_begin, int64_t anchor_end);

}  // namespace lorasub::method
