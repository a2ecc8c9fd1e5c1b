// The figures bench derives from the model shape, against hand counts and published
// numbers, and the all-reduce sweep as a correctness check on one rank.
#include "lorasub/commands/bench_figures.h"

#include <gtest/gtest.h>

namespace lorasub::commands {
namespace {

TEST(BenchFigures, ForwardFlopsOfATinyVitByHand) {
  // 8x8 image, patch 4: 4 patches + CLS = 5 tokens; d 6, mlp 12, 1 block, 2 channels.
  const model::VitShape s{8, 2, 4, 6, 1, 2, 12};
  const double patch = 2.0 * 4 * (2 * 4 * 4) * 6;                            // 1536
  const double qkv = 2.0 * 5 * 6 * 18, proj = 2.0 * 5 * 6 * 6;               // 1080, 360
  const double mlp = 2.0 * 2 * 5 * 6 * 12, attention = 2.0 * 2 * 5 * 5 * 6;  // 1440, 600
  const double adapters = 2.0 * 2 * (2.0 * 5 * 6 * 3);                       // r 3: 720
  EXPECT_DOUBLE_EQ(vit_forward_flops(s, 3), patch + qkv + proj + mlp + attention + adapters);
  EXPECT_DOUBLE_EQ(vit_train_flops(s, 3), 2 * vit_forward_flops(s, 3) + attention);
}

TEST(BenchFigures, VitB16MatchesTheCountTimmReports) {
  // timm/fvcore: vit_base_patch16_224 is 17.58 GMACs (35.2 GFLOP) per 224 px image.
  const model::VitShape vitb{224, 3, 16, 768, 12, 12, 3072};
  EXPECT_NEAR(vit_forward_flops(vitb, 0) / 1e9, 35.15, 0.2);
}

TEST(BenchFigures, LoraBucketBytesOfVitB16) {
  const model::VitShape vitb{224, 3, 16, 768, 12, 12, 3072};
  // 12 blocks x (A_k, B_k, A_v, B_v: 4 x 10 x 768) + a 10-class head (10 x 769) + 3 slots.
  EXPECT_EQ(lora_bucket_bytes(vitb, 10, 10), (12u * 4 * 10 * 768 + 10 * 769 + 3) * 4);
}

TEST(BenchFigures, CommSweepOnOneRankIsCorrectAndCoversTheRange) {
  dist::LocalCommunicator local;
  const auto rows = comm_sweep(local, c10::Device(c10::kCPU), 4096, 1 << 20);
  ASSERT_EQ(rows.size(), 5u);  // 4, 16, 64, 256, 1024 KiB
  for (const auto& r : rows) {
    EXPECT_EQ(r.wrong, 0);
    EXPECT_GE(r.iters, 5);
    EXPECT_EQ(r.busbw, 0.0);  // one rank moves nothing: 2 (n - 1) / n = 0
  }
  EXPECT_EQ(rows.back().bytes, 1u << 20);
}

}  // namespace
}  // namespace lorasub::commands
