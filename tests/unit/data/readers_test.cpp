#include "lorasub/data/readers.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "data_test_util.h"
#include "lorasub/core/error.h"

namespace lorasub::data {
namespace {

using testing::idx_images;
using testing::idx_labels;
using testing::TempDir;
using testing::write_bytes;

std::vector<uint8_t> iota_bytes(size_t n, uint8_t start = 0) {
  std::vector<uint8_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

// The FormatError message of read_idx(images, labels); fails the test if none.
std::string idx_error(const std::string& images, const std::string& labels) {
  try {
    read_idx(images, labels);
  } catch (const FormatError& e) {
    return e.what();
  }
  ADD_FAILURE() << "read_idx did not throw FormatError";
  return "";
}

class ReadIdx : public ::testing::TestWithParam<bool> {
 protected:
  bool gz() const { return GetParam(); }
  TempDir dir;
  std::string images = dir.file("images.idx");
  std::string labels = dir.file("labels.idx");
};

TEST_P(ReadIdx, RoundTrip) {
  const auto px = iota_bytes(3 * 2 * 4, 10);
  write_bytes(images, idx_images(3, 2, 4, px), gz());
  write_bytes(labels, idx_labels({7, 0, 2}), gz());
  const ImageSet set = read_idx(images, labels);
  EXPECT_EQ(set.size(), 3);
  EXPECT_EQ(set.height, 2);
  EXPECT_EQ(set.width, 4);
  EXPECT_EQ(set.channels, 1);
  EXPECT_EQ(set.pixels, px);
  EXPECT_EQ(set.labels, (std::vector<int64_t>{7, 0, 2}));
  EXPECT_EQ(set.image(1)[0], 18);
  EXPECT_EQ(set.num_classes(), 8);
  EXPECT_EQ(set.source, images);
}

TEST_P(ReadIdx, TruncatedImages) {
  write_bytes(images, idx_images(3, 2, 4, iota_bytes(20)), gz());
  write_bytes(labels, idx_labels({1, 2, 3}), gz());
  const std::string msg = idx_error(images, labels);
  EXPECT_CONTAINS(msg, "'" + images + "'");
  EXPECT_CONTAINS(msg, "truncated: expected 24 image bytes, got 20");
}

TEST_P(ReadIdx, TruncatedHeader) {
  write_bytes(images, {0, 0, 8, 3, 0, 0}, gz());
  write_bytes(labels, idx_labels({1}), gz());
  const std::string msg = idx_error(images, labels);
  EXPECT_CONTAINS(msg, images);
  EXPECT_CONTAINS(msg, "truncated");
  EXPECT_CONTAINS(msg, "header");
}

TEST_P(ReadIdx, TruncatedLabels) {
  write_bytes(images, idx_images(3, 1, 1, {1, 2, 3}), gz());
  write_bytes(labels, idx_labels({1, 2}, 0x801, 3), gz());
  const std::string msg = idx_error(images, labels);
  EXPECT_CONTAINS(msg, labels);
  EXPECT_CONTAINS(msg, "truncated: expected 3 label bytes, got 2");
}

TEST_P(ReadIdx, TrailingData) {
  write_bytes(images, idx_images(2, 1, 2, iota_bytes(5)), gz());
  write_bytes(labels, idx_labels({1, 2}), gz());
  const std::string msg = idx_error(images, labels);
  EXPECT_CONTAINS(msg, images);
  EXPECT_CONTAINS(msg, "trailing data");
}

TEST_P(ReadIdx, BadImageMagic) {
  write_bytes(images, idx_labels({1, 2}), gz());  // a label file passed as images
  write_bytes(labels, idx_labels({1, 2}), gz());
  const std::string msg = idx_error(images, labels);
  EXPECT_CONTAINS(msg, images);
  EXPECT_CONTAINS(msg, "bad magic 0x00000801, expected 0x00000803");
}

TEST_P(ReadIdx, BadLabelMagic) {
  write_bytes(images, idx_images(2, 1, 1, {1, 2}), gz());
  write_bytes(labels, idx_labels({1, 2}, 0x12345678u), gz());
  const std::string msg = idx_error(images, labels);
  EXPECT_CONTAINS(msg, labels);
  EXPECT_CONTAINS(msg, "bad magic 0x12345678, expected 0x00000801");
}

TEST_P(ReadIdx, CountMismatch) {
  write_bytes(images, idx_images(3, 1, 1, {1, 2, 3}), gz());
  write_bytes(labels, idx_labels({1, 2}), gz());
  const std::string msg = idx_error(images, labels);
  EXPECT_CONTAINS(msg, "count mismatch");
  EXPECT_CONTAINS(msg, "'" + images + "' has 3 images");
  EXPECT_CONTAINS(msg, "'" + labels + "' has 2 labels");
}

TEST_P(ReadIdx, ZeroImageSize) {
  write_bytes(images, idx_images(1, 0, 4, {}), gz());
  write_bytes(labels, idx_labels({1}), gz());
  const std::string msg = idx_error(images, labels);
  EXPECT_CONTAINS(msg, images);
  EXPECT_CONTAINS(msg, "bad image size 0x4");
}

TEST_P(ReadIdx, ZeroImagesIsRefusedNamingTheFile) {  // was "num_classes must be >= 1" much later
  write_bytes(images, idx_images(0, 28, 28, {}), gz());
  write_bytes(labels, idx_labels({}), gz());
  const std::string msg = idx_error(images, labels);
  EXPECT_CONTAINS(msg, images);
  EXPECT_CONTAINS(msg, "holds no images");
}

TEST_P(ReadIdx, HugeClaimedCountIsTruncatedNotBadAlloc) {
  write_bytes(images, idx_images(0xffffffffu, 28, 28, iota_bytes(100)), gz());
  write_bytes(labels, idx_labels({1}), gz());
  EXPECT_CONTAINS(idx_error(images, labels), "truncated");
}

INSTANTIATE_TEST_SUITE_P(PlainAndGzip, ReadIdx, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "gzip" : "plain"; });

TEST(ReadIdxFiles, MixedCompression) {
  TempDir dir;
  write_bytes(dir.file("i.gz"), idx_images(2, 1, 1, {5, 6}), true);
  write_bytes(dir.file("l"), idx_labels({0, 1}), false);
  const ImageSet set = read_idx(dir.file("i.gz"), dir.file("l"));
  EXPECT_EQ(set.pixels, (std::vector<uint8_t>{5, 6}));
}

TEST(ReadIdxFiles, MissingFiles) {
  TempDir dir;
  const std::string missing = dir.file("nope-images");
  write_bytes(dir.file("l"), idx_labels({0}), false);
  std::string msg = idx_error(missing, dir.file("l"));
  EXPECT_CONTAINS(msg, "'" + missing + "'");
  EXPECT_CONTAINS(msg, std::strerror(ENOENT));

  write_bytes(dir.file("i"), idx_images(1, 1, 1, {0}), false);
  msg = idx_error(dir.file("i"), dir.file("no-labels"));
  EXPECT_CONTAINS(msg, dir.file("no-labels"));
  EXPECT_CONTAINS(msg, std::strerror(ENOENT));
}

TEST(ReadIdxFiles, CorruptGzip) {
  TempDir dir;
  const std::string images = dir.file("i.gz");
  write_bytes(images, idx_images(64, 8, 8, std::vector<uint8_t>(64 * 64, 3)), true);
  write_bytes(dir.file("l"), idx_labels(std::vector<uint8_t>(64, 1)), false);
  {  // flip bits in the compressed stream (after the 10-byte gzip header)
    std::fstream f(images, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(14);
    const char junk[4] = {'\x55', '\x7f', '\x13', '\x42'};
    f.write(junk, 4);
  }
  EXPECT_CONTAINS(idx_error(images, dir.file("l")), images);
}

void write_fashion(const TempDir& dir, const std::string& prefix, uint32_t n, bool gz) {
  const std::string ext = gz ? ".gz" : "";
  write_bytes(dir.file(prefix + "-images-idx3-ubyte" + ext), idx_images(n, 28, 28, std::vector<uint8_t>(n * 784, 9)),
              gz);
  std::vector<uint8_t> labels(n);
  for (uint32_t i = 0; i < n; ++i) labels[i] = static_cast<uint8_t>(i % 10);
  write_bytes(dir.file(prefix + "-labels-idx1-ubyte" + ext), idx_labels(labels), gz);
}

TEST(FashionMnist, FindsFilesWithAndWithoutGz) {
  TempDir dir;
  write_fashion(dir, "train", 12, false);
  write_fashion(dir, "t10k", 5, true);
  const ImageSet train = read_fashion_mnist(dir.path().string(), "train");
  const ImageSet test = read_fashion_mnist(dir.path().string(), "test");
  EXPECT_EQ(train.size(), 12);
  EXPECT_EQ(test.size(), 5);
  EXPECT_EQ(train.num_classes(), 10);
  EXPECT_EQ(test.height, 28);
}

TEST(FashionMnist, LabelOutOfRange) {
  TempDir dir;
  write_bytes(dir.file("train-images-idx3-ubyte"), idx_images(1, 28, 28, std::vector<uint8_t>(784)), false);
  write_bytes(dir.file("train-labels-idx1-ubyte"), idx_labels({10}), false);
  try {
    read_fashion_mnist(dir.path().string(), "train");
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_CONTAINS(e.what(), "train-labels-idx1-ubyte");
    EXPECT_CONTAINS(e.what(), "label 10");
  }
}

TEST(FashionMnist, MissingFilesAndBadSplit) {
  TempDir dir;
  try {
    read_fashion_mnist(dir.path().string(), "test");
    FAIL() << "expected FormatError";
  } catch (const FormatError& e) {
    EXPECT_CONTAINS(e.what(), dir.file("t10k-images-idx3-ubyte"));
    EXPECT_CONTAINS(e.what(), "not found");
  }
  EXPECT_THROW(read_fashion_mnist(dir.path().string(), "val"), ConfigError);
}

std::string fashion_dir() {
  if (const char* env = std::getenv("LORASUB_FASHION_MNIST_DIR"); env && *env) return env;
  return "/usr/share/datasets/fashion-mnist";
}

TEST(FashionMnist, RealFiles) {
  const std::string dir = fashion_dir();
  if (!std::filesystem::exists(std::filesystem::path(dir) / "train-images-idx3-ubyte.gz") &&
      !std::filesystem::exists(std::filesystem::path(dir) / "train-images-idx3-ubyte")) {
    GTEST_SKIP() << "Fashion-MNIST not found at " << dir;
  }
  const ImageSet train = read_fashion_mnist(dir, "train");
  const ImageSet test = read_fashion_mnist(dir, "test");
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(train.height, 28);
  EXPECT_EQ(train.width, 28);
  EXPECT_EQ(train.pixels.size(), 60000u * 784u);
  EXPECT_EQ(train.num_classes(), 10);
  EXPECT_EQ(test.num_classes(), 10);
  std::vector<int64_t> per_class(10, 0);
  for (int64_t l : train.labels) ++per_class[l];
  for (int64_t c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 6000) << "class " << c;
}

}  // namespace
}  // namespace lorasub::data
