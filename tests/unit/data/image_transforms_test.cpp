#include "lorasub/data/image_transforms.h"

#include <gtest/gtest.h>

#include <cmath>

#include "data_test_util.h"
#include "lorasub/core/error.h"

namespace lorasub::data {
namespace {

Rng stream(uint64_t k) { return Rng(Stream::kAugment, {7, 0, 0, k}); }

TEST(RandomResizedCrop, ParamsMatchTheTorchvisionRuleForAFixedStream) {
  for (uint64_t k = 0; k < 50; ++k) {
    const int64_t H = 300, W = 400;
    Rng rng = stream(k), hand = stream(k);
    const CropBox box = random_resized_crop_params(H, W, 0.08, 1.0, 3.0 / 4, 4.0 / 3, rng);
    // By hand: the first try is accepted for these sizes whenever w <= W and h <= H.
    CropBox expect{};
    for (int t = 0; t < 10; ++t) {
      const double area = H * W * hand.uniform(0.08, 1.0);
      const double r = std::exp(hand.uniform(std::log(0.75), std::log(4.0 / 3)));
      const int64_t w = static_cast<int64_t>(std::nearbyint(std::sqrt(area * r)));
      const int64_t h = static_cast<int64_t>(std::nearbyint(std::sqrt(area / r)));
      if (w > 0 && w <= W && h > 0 && h <= H) {
        const int64_t top = hand.below(H - h + 1);
        const int64_t left = hand.below(W - w + 1);
        expect = {top, left, h, w};
        break;
      }
    }
    EXPECT_EQ(box, expect) << k;
    EXPECT_GE(box.top, 0);
    EXPECT_LE(box.top + box.height, H);
    EXPECT_LE(box.left + box.width, W);
    const double area_frac = static_cast<double>(box.height * box.width) / (H * W);
    EXPECT_GE(area_frac, 0.07);
    EXPECT_LE(area_frac, 1.0);
    // Same stream state afterwards: exactly the documented draws were made.
    EXPECT_EQ(rng.uniform(), hand.uniform());
  }
}

TEST(RandomResizedCrop, FirstTryConcreteValues) {
  // scale (1, 1), ratio (1, 1): area = H*W, w = h = round(sqrt(H*W)) = 20 on a 20x20
  // image, top = left = below(1) = 0: the whole image.
  Rng rng = stream(3);
  EXPECT_EQ(random_resized_crop_params(20, 20, 1.0, 1.0, 1.0, 1.0, rng), (CropBox{0, 0, 20, 20}));
  // scale (0.25, 0.25), ratio (1, 1) on 40x40: w = h = round(sqrt(400)) = 20.
  Rng a = stream(4), b = stream(4);
  const CropBox box = random_resized_crop_params(40, 40, 0.25, 0.25, 1.0, 1.0, a);
  b.uniform();
  b.uniform();
  const int64_t top = b.below(21), left = b.below(21);
  EXPECT_EQ(box, (CropBox{top, left, 20, 20}));
}

TEST(RandomResizedCrop, FallbackIsTheClampedCentreCrop) {
  // 1000 high x 10 wide: every try has w >= round(sqrt(800 * 0.75)) = 24 > 10.
  Rng rng = stream(1), hand = stream(1);
  EXPECT_EQ(random_resized_crop_params(1000, 10, 0.08, 1.0, 3.0 / 4, 4.0 / 3, rng),
            (CropBox{493, 0, 13, 10}));         // h = round(10 / 0.75) = 13, top = 987 / 2
  for (int i = 0; i < 20; ++i) hand.uniform();  // 10 tries x 2 draws, nothing more
  EXPECT_EQ(rng.uniform(), hand.uniform());
  // 10 high x 1000 wide: w = round(10 * 4/3) = 13, left = 987 / 2 = 493.
  Rng r2 = stream(2);
  EXPECT_EQ(random_resized_crop_params(10, 1000, 0.08, 1.0, 3.0 / 4, 4.0 / 3, r2), (CropBox{0, 493, 10, 13}));
}

TEST(Resize, ShortSideSizes) {
  using P = std::pair<int64_t, int64_t>;
  EXPECT_EQ(resize_short_side(480, 640, 256), (P{256, 341}));  // 256 * 640 / 480 = 341.33
  EXPECT_EQ(resize_short_side(640, 480, 256), (P{341, 256}));
  EXPECT_EQ(resize_short_side(375, 500, 256), (P{256, 341}));
  EXPECT_EQ(resize_short_side(300, 300, 224), (P{224, 224}));
  EXPECT_EQ(resize_short_side(32, 32, 224), (P{224, 224}));
  EXPECT_EQ(resize_short_side(100, 299, 50), (P{50, 149}));  // 149.5 truncated
}

TEST(CenterCrop, OffsetsRoundHalfToEven) {
  EXPECT_EQ(center_crop_box(256, 341, 224, 224), (CropBox{16, 58, 224, 224}));  // 58.5 -> 58
  EXPECT_EQ(center_crop_box(257, 343, 224, 224), (CropBox{16, 60, 224, 224}));  // 16.5, 59.5
  EXPECT_EQ(center_crop_box(224, 224, 224, 224), (CropBox{0, 0, 224, 224}));
  // Larger than the image: torchvision pads (crop - size) / 2 on the top/left.
  EXPECT_EQ(center_crop_box(20, 30, 32, 32), (CropBox{-6, -1, 32, 32}));
}

TEST(Resample, ConstantStaysConstant) {
  std::vector<uint8_t> img(37 * 23 * 3, 77);
  std::vector<float> out(16 * 9 * 3);
  resample_bilinear(img.data(), 37, 23, 3, CropBox{3, 2, 30, 17}, 16, 9, out.data());
  for (float v : out) EXPECT_NEAR(v, 77.0f, 1e-3f);
  std::vector<float> up(50 * 70 * 3);
  resample_bilinear(img.data(), 37, 23, 3, CropBox{0, 0, 37, 23}, 50, 70, up.data());
  for (float v : up) EXPECT_NEAR(v, 77.0f, 1e-3f);
}

TEST(Resample, DownscaleByTwoUsesTheAntialiasTriangle) {
  // One row, 8 -> 4 wide, 1 -> 1 high. Interior weights 1/8, 3/8, 3/8, 1/8 over
  // x = 2i-1 .. 2i+2; at the left edge 0.75, 0.75, 0.25 (normalised by 1.75).
  const std::vector<uint8_t> v = {10, 50, 20, 90, 30, 0, 200, 100};
  std::vector<float> out(4);
  resample_bilinear(v.data(), 1, 8, 1, CropBox{0, 0, 1, 8}, 1, 4, out.data());
  EXPECT_NEAR(out[0], (0.75 * 10 + 0.75 * 50 + 0.25 * 20) / 1.75, 1e-4);
  EXPECT_NEAR(out[1], (50 + 3 * 20 + 3 * 90 + 30) / 8.0, 1e-4);
  EXPECT_NEAR(out[2], (90 + 3 * 30 + 3 * 0 + 200) / 8.0, 1e-4);
  EXPECT_NEAR(out[3], (0.25 * 0 + 0.75 * 200 + 0.75 * 100) / 1.75, 1e-4);
}

TEST(Resample, DownscaleByTwoIsTheBoxAverageOnASmoothImage) {
  const int64_t H = 40, W = 60;
  std::vector<uint8_t> img(H * W);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) img[y * W + x] = static_cast<uint8_t>(2 * x + 3 * y);
  std::vector<float> out(20 * 30);
  resample_bilinear(img.data(), H, W, 1, CropBox{0, 0, H, W}, 20, 30, out.data());
  for (int64_t y = 1; y < 19; ++y) {
    for (int64_t x = 1; x < 29; ++x) {
      const double box = (img[2 * y * W + 2 * x] + img[2 * y * W + 2 * x + 1] + img[(2 * y + 1) * W + 2 * x] +
                          img[(2 * y + 1) * W + 2 * x + 1]) /
                         4.0;
      EXPECT_NEAR(out[y * 30 + x], box, 1e-3) << y << "," << x;
    }
  }
}

TEST(Resample, UpscaleIsBilinearAlignCornersFalse) {
  const std::vector<uint8_t> v = {0, 100, 40, 200};
  std::vector<float> out(8);
  resample_bilinear(v.data(), 1, 4, 1, CropBox{0, 0, 1, 4}, 1, 8, out.data());
  // source x = (i + 0.5) / 2 - 0.5, clamped at the borders.
  const float expect[8] = {0, 25, 75, 85, 55, 80, 160, 200};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(out[i], expect[i], 1e-4) << i;
}

TEST(Resample, SameSizeIsIdentityAndCropReadsTheBox) {
  std::vector<uint8_t> img(10 * 12 * 3);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(i * 7);
  std::vector<float> out(4 * 5 * 3);
  resample_bilinear(img.data(), 10, 12, 3, CropBox{2, 3, 4, 5}, 4, 5, out.data());
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 5; ++x)
      for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(out[(y * 5 + x) * 3 + c], img[((y + 2) * 12 + x + 3) * 3 + c]);
}

TEST(ColorOps, BrightnessContrastSaturationGrey) {
  std::vector<float> px = {0.8f, 0.4f, 0.2f};
  adjust_brightness(px.data(), 1, 0.5);
  EXPECT_NEAR(px[0], 0.4f, 1e-6);
  EXPECT_NEAR(px[1], 0.2f, 1e-6);
  adjust_brightness(px.data(), 1, 3.0);
  EXPECT_NEAR(px[0], 1.0f, 1e-6);  // clamped
  std::vector<float> two = {0.2f, 0.2f, 0.2f, 0.6f, 0.6f, 0.6f};
  adjust_contrast(two.data(), 2, 0.5);  // mean grey 0.4
  EXPECT_NEAR(two[0], 0.3f, 1e-6);
  EXPECT_NEAR(two[3], 0.5f, 1e-6);
  std::vector<float> c = {1.0f, 0.0f, 0.0f};
  adjust_saturation(c.data(), 1, 0.0);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(c[k], 0.299f, 1e-6);
  std::vector<float> g = {0.5f, 0.25f, 1.0f};
  to_grayscale(g.data(), 1);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(g[k], 0.299 * 0.5 + 0.587 * 0.25 + 0.114, 1e-6);
}

TEST(ColorOps, HueRotates) {
  std::vector<float> red = {1.0f, 0.0f, 0.0f};
  adjust_hue(red.data(), 1, 1.0 / 3);
  EXPECT_NEAR(red[0], 0.0f, 1e-5);
  EXPECT_NEAR(red[1], 1.0f, 1e-5);
  EXPECT_NEAR(red[2], 0.0f, 1e-5);
  std::vector<float> red2 = {1.0f, 0.0f, 0.0f};
  adjust_hue(red2.data(), 1, -1.0 / 3);
  EXPECT_NEAR(red2[2], 1.0f, 1e-5);
  EXPECT_NEAR(red2[0], 0.0f, 1e-5);
  std::vector<float> any = {0.3f, 0.7f, 0.5f, 0.9f, 0.1f, 0.4f, 0.5f, 0.5f, 0.5f};
  const auto before = any;
  adjust_hue(any.data(), 3, 0.0);
  for (size_t i = 0; i < any.size(); ++i) EXPECT_NEAR(any[i], before[i], 1e-5);
  // Half a turn on (0.2, 0.6, 0.4) (hue 150 deg) -> hue 330 deg: (0.6, 0.2, 0.4).
  std::vector<float> t = {0.2f, 0.6f, 0.4f};
  adjust_hue(t.data(), 1, 0.5);
  EXPECT_NEAR(t[0], 0.6f, 1e-5);
  EXPECT_NEAR(t[1], 0.2f, 1e-5);
  EXPECT_NEAR(t[2], 0.4f, 1e-5);
}

TEST(Pipeline, NamesAndParameters) {
  const ImagePipeline in = make_pipeline("imagenet-r");
  EXPECT_EQ(in.size, 224);
  EXPECT_EQ(in.resize_short, 256);
  EXPECT_DOUBLE_EQ(in.scale_lo, 0.08);
  EXPECT_DOUBLE_EQ(in.brightness, 0.0);
  const ImagePipeline dn = make_pipeline("domainnet");
  EXPECT_DOUBLE_EQ(dn.scale_lo, 0.7);
  EXPECT_DOUBLE_EQ(dn.hue, 0.3);
  EXPECT_DOUBLE_EQ(dn.grayscale_p, 0.1);
  EXPECT_EQ(dn.resize_short, 256);
  const ImagePipeline cf = make_pipeline("cifar100", 32);
  EXPECT_EQ(cf.resize_short, 32);
  EXPECT_EQ(make_pipeline("imagenet-r", 32).resize_short, 36);
  EXPECT_EQ(in.min_decode_short_side(false), 256);
  EXPECT_EQ(in.min_decode_short_side(true), 792);  // ceil(224 / sqrt(0.08)) = ceil(791.96)
  EXPECT_EQ(dn.min_decode_short_side(true), 268);  // ceil(224 / sqrt(0.7)) = ceil(267.73)
  EXPECT_EQ(dn.min_decode_short_side(false), 256);
  try {
    make_pipeline("imagenet");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_CONTAINS(e.what(), "imagenet-r, domainnet, cifar100");
  }
}

TEST(Pipeline, TestModeIsResizeThenCentreCrop) {
  const ImagePipeline p = make_pipeline("imagenet-r", 32);  // Resize(36) + CenterCrop(32)
  const int64_t H = 48, W = 64;
  std::vector<uint8_t> img(H * W * 3);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>((i * 13) % 251);
  std::vector<float> out(3 * 32 * 32);
  Rng rng = stream(0), untouched = stream(0);
  p.apply(img.data(), H, W, 3, false, rng, out.data());
  EXPECT_EQ(rng.uniform(), untouched.uniform());  // test mode draws nothing
  std::vector<float> full(36 * 48 * 3);           // resize to (36, 48); crop at (2, 8)
  resample_bilinear(img.data(), H, W, 3, CropBox{0, 0, H, W}, 36, 48, full.data());
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x)
        ASSERT_NEAR(out[c * 1024 + y * 32 + x], full[((y + 2) * 48 + x + 8) * 3 + c] / 255.0f, 1e-6);
}

TEST(Pipeline, FlipMirrorsAndConstantStaysConstant) {
  ImagePipeline p = make_pipeline("imagenet-r", 16);
  p.scale_lo = p.scale_hi = 1.0;
  p.ratio_lo = p.ratio_hi = 1.0;  // the crop is the whole 16x16 image, no resampling
  std::vector<uint8_t> img(16 * 16 * 3);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(i % 256);
  int flipped = 0, kept = 0;
  for (uint64_t k = 0; k < 40; ++k) {
    Rng rng = stream(k), hand = stream(k);
    std::vector<float> out(3 * 256);
    p.apply(img.data(), 16, 16, 3, true, rng, out.data());
    hand.uniform();
    hand.uniform();
    hand.below(1);
    hand.below(1);
    const bool mirror = hand.uniform() < 0.5;
    (mirror ? flipped : kept)++;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 16; ++y)
        for (int64_t x = 0; x < 16; ++x) {
          const int64_t sx = mirror ? 15 - x : x;
          ASSERT_NEAR(out[c * 256 + y * 16 + x], img[(y * 16 + sx) * 3 + c] / 255.0f, 1e-6);
        }
  }
  EXPECT_GT(flipped, 5);
  EXPECT_GT(kept, 5);
  // Any crop of a constant image is constant (imagenet-r train, 300x200 -> 24x24).
  const ImagePipeline q = make_pipeline("imagenet-r", 24);
  std::vector<uint8_t> flat(300 * 200 * 3, 51);
  std::vector<float> out(3 * 24 * 24);
  Rng rng = stream(9);
  q.apply(flat.data(), 300, 200, 3, true, rng, out.data());
  for (float v : out) EXPECT_NEAR(v, 0.2f, 1e-5);
}

TEST(Pipeline, DomainNetTrainFollowsTheDocumentedDrawOrder) {
  const ImagePipeline p = make_pipeline("domainnet", 20);
  const int64_t H = 50, W = 70;
  std::vector<uint8_t> img(H * W * 3);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      img[(y * W + x) * 3 + 0] = static_cast<uint8_t>(3 * x);
      img[(y * W + x) * 3 + 1] = static_cast<uint8_t>(4 * y);
      img[(y * W + x) * 3 + 2] = static_cast<uint8_t>((x * y) % 256);
    }
  int greyed = 0;
  for (uint64_t k = 0; k < 30; ++k) {
    Rng rng = stream(k), hand = stream(k);
    std::vector<float> out(3 * 400);
    p.apply(img.data(), H, W, 3, true, rng, out.data());
    // By hand.
    const CropBox box = random_resized_crop_params(H, W, 0.7, 1.0, 0.75, 4.0 / 3, hand);
    std::vector<float> rgb(400 * 3);
    resample_bilinear(img.data(), H, W, 3, box, 20, 20, rgb.data());
    for (auto& v : rgb) v = std::min(1.0f, std::max(0.0f, v / 255.0f));
    if (hand.uniform() < 0.5) {
      for (int y = 0; y < 20; ++y)
        for (int x = 0; x < 10; ++x)
          for (int c = 0; c < 3; ++c) std::swap(rgb[(y * 20 + x) * 3 + c], rgb[(y * 20 + 19 - x) * 3 + c]);
    }
    int perm[4] = {0, 1, 2, 3};
    for (int j = 3; j >= 1; --j) std::swap(perm[j], perm[hand.below(j + 1)]);
    const double b = hand.uniform(0.7, 1.3), c = hand.uniform(0.7, 1.3), s = hand.uniform(0.7, 1.3),
                 h = hand.uniform(-0.3, 0.3);
    for (int op : perm) {
      if (op == 0) adjust_brightness(rgb.data(), 400, b);
      if (op == 1) adjust_contrast(rgb.data(), 400, c);
      if (op == 2) adjust_saturation(rgb.data(), 400, s);
      if (op == 3) adjust_hue(rgb.data(), 400, h);
    }
    if (hand.uniform() < 0.1) {
      to_grayscale(rgb.data(), 400);
      ++greyed;
    }
    for (int64_t pix = 0; pix < 400; ++pix)
      for (int ch = 0; ch < 3; ++ch) ASSERT_NEAR(out[ch * 400 + pix], rgb[pix * 3 + ch], 1e-5) << k;
    EXPECT_EQ(rng.uniform(), hand.uniform());
  }
  EXPECT_LT(greyed, 30);
}

TEST(Pipeline, GreyInputIsReplicatedToRgb) {
  const ImagePipeline p = make_pipeline("cifar100", 8);
  std::vector<uint8_t> g(8 * 8);
  for (size_t i = 0; i < g.size(); ++i) g[i] = static_cast<uint8_t>(i * 3);
  std::vector<float> out(3 * 64);
  Rng rng = stream(0);
  p.apply(g.data(), 8, 8, 1, false, rng, out.data());
  for (int pix = 0; pix < 64; ++pix) {
    EXPECT_NEAR(out[pix], g[pix] / 255.0f, 1e-6);
    EXPECT_EQ(out[pix], out[64 + pix]);
    EXPECT_EQ(out[pix], out[128 + pix]);
  }
}

}  // namespace
}  // namespace lorasub::data
