#include "lorasub/data/sample_source.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <cstdlib>
#include <fstream>

#include "image_test_util.h"
#include "lorasub/core/error.h"
#include "lorasub/data/decode.h"
#include "lorasub/data/loader.h"

namespace lorasub::data {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

// A tiny ImageNet-R: 3 classes x 6 images of varied sizes (JPEG and PNG).
FileList tiny_imagenet_r(const TempDir& dir) {
  const fs::path root = dir.path() / "imagenet-r";
  const std::vector<std::string> wnids = {"n01443537", "n01484850", "n01494475"};
  for (size_t c = 0; c < wnids.size(); ++c) {
    fs::create_directories(root / wnids[c]);
    for (int k = 0; k < 6; ++k) {
      const int w = 40 + 7 * k, h = 30 + 5 * static_cast<int>(c);
      std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
          px[(y * w + x) * 3 + 0] = static_cast<uint8_t>(60 * c + 2 * x);
          px[(y * w + x) * 3 + 1] = static_cast<uint8_t>(5 * y + 10 * k);
          px[(y * w + x) * 3 + 2] = static_cast<uint8_t>(x * y);
        }
      const fs::path f = root / wnids[c] / ("art_" + std::to_string(k) + (k == 5 ? ".png" : ".jpg"));
      if (k == 5)
        testing::write_png(f.string(), w, h, 2, 8, testing::rgb_rows(px, w, h));
      else
        testing::write_jpeg(f.string(), px, w, h);
    }
  }
  return list_imagenet_r(root.string());
}

TEST(FileSampleSource, ShapeLabelsAndTestModeOutput) {
  TempDir dir;
  const FileList files = tiny_imagenet_r(dir);
  ASSERT_EQ(files.size(), 18);
  const FileSampleSource src(files, make_pipeline("imagenet-r", 16));
  EXPECT_EQ(src.size(), 18);
  EXPECT_EQ(src.channels(), 3);
  EXPECT_EQ(src.height(), 16);
  EXPECT_EQ(src.width(), 16);
  EXPECT_EQ(src.label(0), 0);
  EXPECT_EQ(src.label(7), 1);
  EXPECT_EQ(src.label(17), 2);
  // Test mode = decode (JPEG short side >= 18 = 16*256/224) + Resize(18) + CenterCrop(16).
  std::vector<float> got(3 * 256), want(3 * 256);
  Rng r1(1), r2(1);
  src.produce(3, false, r1, got.data());
  const DecodedImage img = decode_image_file(files.full_path(3), 18);
  make_pipeline("imagenet-r", 16).apply(img.pixels.data(), img.height, img.width, 3, false, r2, want.data());
  EXPECT_EQ(got, want);
}

TEST(FileSampleSource, BatchStreamsAreKeyedLikeImageSets) {
  TempDir dir;
  const FileList files = tiny_imagenet_r(dir);
  const ImagePipeline pipe = make_pipeline("domainnet", 12);
  const FileSampleSource src(files, pipe);
  const StreamKey key{42, 1, 3};
  const Batch b = make_batch(src, true, {5, 0, 17}, key);
  EXPECT_EQ(b.n, 3);
  EXPECT_EQ(b.labels, (LabelVector{0, 0, 2}));
  EXPECT_EQ(b.indices, (std::vector<int64_t>{5, 0, 17}));
  const int64_t per = 3 * 12 * 12;
  for (int k = 0; k < 3; ++k) {
    const int64_t i = b.indices[k];
    Rng rng(Stream::kAugment, {42, 1, 3, static_cast<uint64_t>(i)});
    std::vector<float> want(per);
    const DecodedImage img = decode_image_file(files.full_path(i), pipe.min_decode_short_side(true));
    pipe.apply(img.pixels.data(), img.height, img.width, 3, true, rng, want.data());
    EXPECT_TRUE(std::equal(want.begin(), want.end(), b.pixels.begin() + k * per)) << k;
  }
  // A different epoch draws different augmentations.
  EXPECT_NE(make_batch(src, true, {5, 0, 17}, StreamKey{42, 1, 4}).pixels, b.pixels);
  EXPECT_THROW(make_batch(src, true, {18}, key), std::out_of_range);
}

TEST(FileSampleSource, LoaderGivesTheSameBatchesWithOneAndTwoWorkers) {
  TempDir dir;
  auto src = std::make_shared<FileSampleSource>(tiny_imagenet_r(dir), make_pipeline("imagenet-r", 16));
  const std::vector<std::vector<int64_t>> batches = {{3, 1, 4, 15}, {9, 2, 6, 5}, {17, 0, 8, 7}, {11}};
  auto run = [&](int workers, bool train) {
    Loader loader(src, train, workers, 2);
    loader.start(batches, StreamKey{7, 0, 1});
    std::vector<Batch> out;
    while (auto b = loader.next()) out.push_back(std::move(*b));
    return out;
  };
  for (bool train : {true, false}) {
    const auto one = run(1, train), two = run(2, train);
    ASSERT_EQ(one.size(), 4u);
    ASSERT_EQ(two.size(), 4u);
    for (size_t k = 0; k < 4; ++k) {
      EXPECT_EQ(one[k].indices, batches[k]);
      EXPECT_EQ(one[k].labels, two[k].labels);
      EXPECT_EQ(one[k].pixels, two[k].pixels);
      EXPECT_EQ(one[k].height, 16);
      const Batch direct = make_batch(*src, train, batches[k], StreamKey{7, 0, 1});
      EXPECT_EQ(one[k].pixels, direct.pixels);
    }
  }
}

TEST(FileSampleSource, BadImageErrorNamesTheFileOrIsSkippedAndCounted) {
  TempDir dir;
  FileList files = tiny_imagenet_r(dir);
  const std::string bad = files.full_path(4);
  {
    std::ofstream out(bad, std::ios::binary | std::ios::trunc);
    out << "\xFF\xD8\xFF garbage";
  }
  auto strict = std::make_shared<FileSampleSource>(files, make_pipeline("imagenet-r", 8));
  Loader loader(strict, true, 2, 2);
  loader.start({{0, 1}, {2, 4}}, StreamKey{1, 0, 0});
  EXPECT_TRUE(loader.next().has_value());
  try {
    loader.next();
    FAIL() << "expected a FormatError";
  } catch (const FormatError& e) {
    EXPECT_CONTAINS(e.what(), bad);
  }
  fs::remove(files.full_path(9));  // unreadable (missing) counts too
  auto lenient = std::make_shared<FileSampleSource>(files, make_pipeline("imagenet-r", 8), parse_on_bad_image("skip"));
  const Batch b = make_batch(*lenient, true, {4, 9, 0}, StreamKey{1, 0, 0});
  EXPECT_EQ(lenient->skipped(), 2);
  EXPECT_EQ(static_cast<const SampleSource&>(*lenient).skipped(), 2);
  EXPECT_EQ(strict->skipped(), 0);
  EXPECT_EQ(b.labels, (LabelVector{0, 1, 0}));
  for (int64_t i = 0; i < 2 * 3 * 64; ++i) EXPECT_EQ(b.pixels[i], 0.5f);
  EXPECT_NE(b.pixels[2 * 3 * 64], 0.5f);
  EXPECT_THROW(parse_on_bad_image("ignore"), ConfigError);
}

TEST(ImageSetSampleSource, CifarThroughThePipeline) {
  ImageSet set;
  set.height = set.width = 32;
  set.channels = 3;
  set.pixels.assign(2 * 32 * 32 * 3, 0);
  for (size_t i = 0; i < set.pixels.size(); ++i) set.pixels[i] = static_cast<uint8_t>(i % 200);
  set.labels = {4, 9};
  set.source = "mem";
  auto shared = std::make_shared<const ImageSet>(set);
  auto src = std::make_shared<ImageSetSampleSource>(shared, make_pipeline("cifar100", 32));
  EXPECT_EQ(src->size(), 2);
  EXPECT_EQ(src->label(1), 9);
  // Test mode at 32: Resize(32) + CenterCrop(32) is the identity.
  const Batch b = make_batch(*src, false, {1}, StreamKey{});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t p = 0; p < 1024; ++p) ASSERT_NEAR(b.pixels[c * 1024 + p], set.image(1)[p * 3 + c] / 255.0f, 1e-6);
  Loader loader(src, true, 2, 1);
  loader.start({{0, 1}, {1}}, StreamKey{3, 0, 0});
  auto first = loader.next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->labels, (LabelVector{4, 9}));
  EXPECT_EQ(first->pixels, make_batch(*src, true, {0, 1}, StreamKey{3, 0, 0}).pixels);
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Not a timed assertion: prints decode+augment images per CPU-second (one thread, so
// "per core"; CPU time rather than wall time, as the machine may be shared) for 224x224
// outputs from JPEGs of a few sizes, and decode alone. Runs only with LORASUB_DATA_BENCH=1.
TEST(Throughput, DecodeAugmentImagesPerSecond) {
  const char* env = std::getenv("LORASUB_DATA_BENCH");
  if (!env || std::string(env) != "1") GTEST_SKIP() << "set LORASUB_DATA_BENCH=1";
  TempDir dir;
  // Photo-like content: smooth colour fields, edges and mild noise (JPEG quality 90).
  auto make_files = [&](const std::string& sub, int w, int h, int count) {
    FileList l;
    l.root = (dir.path() / sub).string();
    fs::create_directories(l.root);
    std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
    Rng noise(Stream::kSynthetic, {1, static_cast<uint64_t>(w)});
    for (int i = 0; i < count; ++i) {
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          for (int c = 0; c < 3; ++c) {
            const double v = 128 + 60 * std::sin(0.02 * (x + 13 * i) * (c + 1)) + 40 * std::cos(0.015 * y * (3 - c)) +
                             ((x / 37 + y / 29 + i) % 2) * 20 + noise.uniform(-6, 6);
            px[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
          }
      const std::string name = std::to_string(i) + ".jpg";
      testing::write_jpeg((fs::path(l.root) / name).string(), px, w, h, TJPF_RGB, 90);
      l.entries.push_back({name, 0});
    }
    l.class_names = {"x"};
    l.source = sub;
    return l;
  };
  struct Case {
    const char* what;
    int w, h, count;
  };
  for (const Case& c :
       {Case{"224x224", 224, 224, 48}, Case{"500x375", 500, 375, 24}, Case{"2000x1500", 2000, 1500, 6}}) {
    const FileList files = make_files(std::to_string(c.w), c.w, c.h, c.count);
    const int reps = 3;
    {
      const double t0 = thread_cpu_seconds();
      for (int r = 0; r < reps; ++r)
        for (int64_t i = 0; i < files.size(); ++i) decode_image_file(files.full_path(i));
      const double s = thread_cpu_seconds() - t0;
      std::printf("[throughput] %-9s JPEG  full decode only                %8.1f images/s per core\n", c.what,
                  reps * files.size() / s);
    }
    for (const char* pipe : {"imagenet-r", "domainnet"}) {
      for (bool train : {true, false}) {
        const FileSampleSource src(files, make_pipeline(pipe, 224));
        std::vector<float> out(3 * 224 * 224);
        const double t0 = thread_cpu_seconds();
        for (int r = 0; r < reps; ++r) {
          for (int64_t i = 0; i < src.size(); ++i) {
            Rng rng(Stream::kAugment, {1, 0, static_cast<uint64_t>(r), static_cast<uint64_t>(i)});
            src.produce(i, train, rng, out.data());
          }
        }
        const double s = thread_cpu_seconds() - t0;
        std::printf("[throughput] %-9s JPEG  decode+%-10s %-5s -> 224  %8.1f images/s per core\n", c.what, pipe,
                    train ? "train" : "test", reps * src.size() / s);
      }
    }
  }
}

}  // namespace
}  // namespace lorasub::data
