// LoraBank against explicit dense weights: W0 +/- sum B A, the low-rank current
// adapter equal to folding it in, and the reference initialisation.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>

#include "lorasub/model/lora_bank.h"

namespace lorasub::model {
namespace {

VitShape tiny() { return VitShape{8, 1, 4, 16, 2, 2, 32}; }

double max_abs(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// The kept sums of frozen deltas against summing from scratch (the DeltaScale overload
// still does): bit for bit, task after task, and remade when an old task changes.
TEST(LoraBank, KeptDeltaSumsFoldExactlyAsFromScratch) {
  Vit vit = Vit::random(tiny(), 8);
  LoraBank bank(vit, 3);
  auto scratch = [&bank](int64_t upto, int sign) {
    return bank.folded_qkv(upto, [sign](int64_t, int64_t, int) { return static_cast<double>(sign); });
  };
  auto same = [](const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!a[i].equal(b[i])) return false;
    return true;
  };
  for (int t = 0; t < 5; ++t) {
    bank.add_task(uint64_t{12});
    {  // train the current task a little: the kept sums must not take it in
      at::NoGradGuard ng;
      for (auto& b : bank.task(t).blocks) b.b_k.add_(at::randn_like(b.b_k) * 0.1);
    }
    const int64_t n = bank.num_tasks();
    for (int sign : {+1, -1}) {
      EXPECT_TRUE(same(bank.folded_qkv(n - 1, sign), scratch(n - 1, sign))) << "old, task " << t << " sign " << sign;
      EXPECT_TRUE(same(bank.folded_qkv(n, sign), scratch(n, sign))) << "all, task " << t << " sign " << sign;
    }
  }
  {  // an old task changed in place (a restore, a rollback): noticed
    at::NoGradGuard ng;
    bank.task(1).blocks[0].a_v.mul_(2.0);
  }
  EXPECT_TRUE(same(bank.folded_qkv(4, +1), scratch(4, +1)));
  // and replaced by other tensors
  bank.task(2).blocks[1].b_k = at::randn({16, 3});
  EXPECT_TRUE(same(bank.folded_qkv(4, -1), scratch(4, -1)));
  EXPECT_TRUE(same(bank.folded_qkv(2, +1), scratch(2, +1)));  // fewer tasks than kept
}

TEST(LoraBank, FoldedWeightsEqualExplicitSums) {
  Vit vit = Vit::random(tiny(), 7);
  LoraBank bank(vit, 3);
  for (int t = 0; t < 3; ++t) bank.add_task(uint64_t{11});
  const int64_t d = 16;
  for (int sign : {+1, -1}) {
    std::vector<at::Tensor> w = bank.folded_qkv(2, sign);
    for (int64_t i = 0; i < 2; ++i) {
      at::Tensor expect = vit.blocks()[i].qkv_w.clone();
      for (int s = 0; s < 2; ++s) {
        const KvAdapter& a = bank.task(s).blocks[i];
        expect.narrow(0, d, d).add_(at::matmul(a.b_k.detach(), a.a_k.detach()), sign);
        expect.narrow(0, 2 * d, d).add_(at::matmul(a.b_v.detach(), a.a_v.detach()), sign);
      }
      EXPECT_LT(max_abs(w[i], expect), 1e-6) << "block " << i << " sign " << sign;
      // q rows never change
      EXPECT_EQ(max_abs(w[i].narrow(0, 0, d), vit.blocks()[i].qkv_w.narrow(0, 0, d)), 0.0);
    }
  }
}

TEST(LoraBank, LowRankCurrentAdapterEqualsFoldedForward) {
  Vit vit = Vit::random(tiny(), 3);
  LoraBank bank(vit, 4);
  for (int t = 0; t < 3; ++t) bank.add_task(uint64_t{5});
  // Make the current adapter clearly nonzero so the check has teeth.
  {
    at::NoGradGuard ng;
    for (auto& p : bank.current_parameters()) p.add_(at::randn_like(p) * 0.1);
  }
  bank.refresh();
  at::Tensor x = at::rand({3, 1, 8, 8});
  at::NoGradGuard ng;
  at::Tensor low_rank = vit.features(x, bank.training_view());
  at::Tensor folded = vit.features(x, bank.full_view());
  EXPECT_LT(max_abs(low_rank, folded), 1e-4);
  at::Tensor w0 = vit.features(x);
  EXPECT_GT(max_abs(low_rank, w0), 1e-3);  // the adapters do change the output
}

TEST(LoraBank, ReferenceInit) {
  Vit vit = Vit::random(VitShape{8, 1, 4, 64, 1, 4, 32}, 1);
  LoraBank bank(vit, 10);
  bank.add_task(uint64_t{42});
  const KvAdapter& a = bank.task(0).blocks[0];
  const double bound = 1.0 / std::sqrt(64.0);
  EXPECT_LE(a.a_k.abs().max().item<double>(), bound);
  EXPECT_GT(a.a_k.abs().max().item<double>(), 0.8 * bound);
  for (const at::Tensor& b : {a.b_k, a.b_v}) {
    ASSERT_EQ(b.sizes(), (at::IntArrayRef{64, 10}));
    at::Tensor nonzero_per_col = b.ne(0).sum(0);
    EXPECT_TRUE(nonzero_per_col.eq(1).all().item<bool>());
    EXPECT_LT(b.abs().max().item<double>(), 0.06);  // N(0, 0.01^2): 6 sigma
  }
  EXPECT_TRUE(a.a_k.requires_grad());
  // Same seed and task give the same adapters; k and v differ.
  LoraBank again(vit, 10);
  again.add_task(uint64_t{42});
  EXPECT_TRUE(again.task(0).blocks[0].a_k.equal(a.a_k));
  EXPECT_FALSE(a.a_k.equal(a.a_v));
}

TEST(LoraBank, OldTasksAreFrozen) {
  Vit vit = Vit::random(tiny(), 2);
  LoraBank bank(vit, 2);
  bank.add_task(uint64_t{1});
  bank.add_task(uint64_t{1});
  EXPECT_FALSE(bank.task(0).blocks[0].a_k.requires_grad());
  EXPECT_TRUE(bank.task(1).blocks[0].a_k.requires_grad());
  EXPECT_EQ(bank.current_parameters().size(), 2u * 4u);
}

}  // namespace
}  // namespace lorasub::model
