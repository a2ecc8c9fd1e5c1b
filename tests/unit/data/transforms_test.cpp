#include "lorasub/data/transforms.h"

#include <gtest/gtest.h>

#include <vector>

namespace lorasub::data {
namespace {

using F = std::vector<float>;

// 1 2 3 / 4 5 6 / 7 8 9
const std::vector<uint8_t> kImage{1, 2, 3, 4, 5, 6, 7, 8, 9};

F scaled(const std::vector<int>& v) {
  F out;
  for (int x : v) out.push_back(static_cast<float>(x) / 255.0f);
  return out;
}

struct Draws {
  int64_t oy, ox;
  bool flip;
};

// What apply() will draw from `rng` (padding 1, flip on), read off a copy.
Draws predict(const Rng& rng) {
  Rng copy = rng;
  Draws d;
  d.oy = copy.below(3);
  d.ox = copy.below(3);
  d.flip = copy.bernoulli(0.5);
  return d;
}

// A seed whose draws are (oy, ox, flip).
uint64_t seed_for(int64_t oy, int64_t ox, bool flip) {
  for (uint64_t s = 0; s < 10000; ++s) {
    const Draws d = predict(Rng(Stream::kAugment, {s}));
    if (d.oy == oy && d.ox == ox && d.flip == flip) return s;
  }
  ADD_FAILURE() << "no seed found";
  return 0;
}

F run(const SmallImageTransform& t, uint64_t seed) {
  F out(9, -1.0f);
  Rng rng(Stream::kAugment, {seed});
  t.apply(kImage.data(), 3, 3, 1, rng, out.data());
  return out;
}

TEST(SmallImageTransform, CropByHand) {
  // Padded 5x5 image cropped at (oy, ox) = (0, 2): rows 0-2, columns 2-4.
  const SmallImageTransform t{true, 1, true};
  EXPECT_EQ(run(t, seed_for(0, 2, false)), scaled({0, 0, 0, 2, 3, 0, 5, 6, 0}));
  // (2, 1): rows 2-4, columns 1-3 -> image rows 1-2 then zeros.
  EXPECT_EQ(run(t, seed_for(2, 1, false)), scaled({4, 5, 6, 7, 8, 9, 0, 0, 0}));
  // (1, 1) is the identity.
  EXPECT_EQ(run(t, seed_for(1, 1, false)), scaled({1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(SmallImageTransform, FlipMirrorsTheCrop) {
  const SmallImageTransform t{true, 1, true};
  EXPECT_EQ(run(t, seed_for(0, 2, true)), scaled({0, 0, 0, 0, 3, 2, 0, 6, 5}));
  EXPECT_EQ(run(t, seed_for(1, 1, true)), scaled({3, 2, 1, 6, 5, 4, 9, 8, 7}));
}

TEST(SmallImageTransform, FlipOnlyDrawsOnce) {
  const SmallImageTransform t{true, 0, true};
  for (uint64_t s = 0; s < 20; ++s) {
    Rng rng(Stream::kAugment, {s});
    Rng copy = rng;
    const bool flip = copy.bernoulli(0.5);
    F out(9);
    t.apply(kImage.data(), 3, 3, 1, rng, out.data());
    EXPECT_EQ(out, flip ? scaled({3, 2, 1, 6, 5, 4, 9, 8, 7}) : scaled({1, 2, 3, 4, 5, 6, 7, 8, 9}));
    EXPECT_TRUE(rng.engine() == copy.engine()) << "exactly one draw";
  }
}

TEST(SmallImageTransform, TestModeIsIdentityWithoutDraws) {
  // 2x2 image, 2 channels, HWC -> CHW.
  const std::vector<uint8_t> hwc{0, 255, 10, 20, 30, 40, 128, 1};
  const SmallImageTransform t{false, 4, true};
  Rng rng(123);
  Rng before = rng;
  F out(8);
  t.apply(hwc.data(), 2, 2, 2, rng, out.data());
  EXPECT_EQ(out, scaled({0, 10, 30, 128, 255, 20, 40, 1}));
  EXPECT_TRUE(rng.engine() == before.engine());
  EXPECT_EQ(out[1], 10 / 255.0f);
}

TEST(SmallImageTransform, AllOffsetsMatchFormula) {
  // 2 channels, 3x4, padding 2: every output equals the padded-source formula.
  const int64_t h = 3, w = 4, c = 2, p = 2;
  std::vector<uint8_t> src(h * w * c);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(10 * i + 3);
  const SmallImageTransform t{true, p, true};
  for (uint64_t s = 0; s < 200; ++s) {
    Rng rng(Stream::kAugment, {s, 1});
    Rng copy = rng;
    const int64_t oy = copy.below(2 * p + 1), ox = copy.below(2 * p + 1);
    const bool flip = copy.bernoulli(0.5);
    F out(h * w * c);
    t.apply(src.data(), h, w, c, rng, out.data());
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t y = 0; y < h; ++y) {
        for (int64_t x = 0; x < w; ++x) {
          const int64_t sy = y + oy - p, sx = (flip ? w - 1 - x : x) + ox - p;
          const bool in = sy >= 0 && sy < h && sx >= 0 && sx < w;
          const float want = in ? src[(sy * w + sx) * c + ch] / 255.0f : 0.0f;
          ASSERT_EQ(out[(ch * h + y) * w + x], want) << "seed " << s;
        }
      }
    }
  }
}

}  // namespace
}  // namespace lorasub::data
