// The image cache: images of different sizes round-trip exactly through the chunked
// HDF5 file, reads are thread-safe, and a damaged image is refused by name.
#include "lorasub/io/image_cache.h"
#include "lorasub/io/file_seal.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <iterator>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "lorasub/core/error.h"
#include "temp_dir.h"

namespace lorasub::io {
namespace {

using test::TempDir;

std::vector<uint8_t> image(int64_t h, int64_t w, int64_t c, int seed) {
  std::vector<uint8_t> v(static_cast<size_t>(h * w * c));
  for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<uint8_t>((k * 31 + static_cast<size_t>(seed) * 7) % 251);
  return v;
}

TEST(ImageCache, RoundTripsImagesOfEverySize) {
  TempDir dir;
  const std::string path = (dir / "cache.h5");
  const std::vector<std::array<int64_t, 3>> shapes = {{256, 341, 3}, {300, 256, 3}, {256, 256, 1}, {2, 1500, 3}};
  {
    ImageCacheWriter w(path, {"imagenet-r", "/data/imagenet-r", 256});
    for (size_t i = 0; i < shapes.size(); ++i) {
      auto im = image(shapes[i][0], shapes[i][1], shapes[i][2], static_cast<int>(i));
      w.add(i % 2 ? "test" : "train", im.data(), shapes[i][0], shapes[i][1], shapes[i][2], static_cast<int64_t>(10 + i),
            "n0/" + std::to_string(i) + ".jpg");
    }
    w.commit();
  }
  ImageCacheReader r(path);
  EXPECT_EQ(r.meta().dataset, "imagenet-r");
  EXPECT_EQ(r.meta().short_side, 256);
  ASSERT_EQ(r.size("train"), 2);
  ASSERT_EQ(r.size("test"), 2);
  for (size_t i = 0; i < shapes.size(); ++i) {
    const std::string split = i % 2 ? "test" : "train";
    const int64_t k = static_cast<int64_t>(i / 2);
    const auto& info = r.info(split, k);
    EXPECT_EQ(info.height, shapes[i][0]);
    EXPECT_EQ(info.width, shapes[i][1]);
    EXPECT_EQ(info.channels, shapes[i][2]);
    EXPECT_EQ(info.label, static_cast<int64_t>(10 + i));
    EXPECT_EQ(r.source_path(split, k), "n0/" + std::to_string(i) + ".jpg");
    std::vector<uint8_t> got(static_cast<size_t>(info.height * info.width * info.channels));
    r.read(split, k, got.data());
    EXPECT_EQ(got, image(shapes[i][0], shapes[i][1], shapes[i][2], static_cast<int>(i)));
  }
  // Concurrent reads from several threads give the same bytes.
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<uint8_t> buf(256 * 341 * 3);
      for (int rep = 0; rep < 20; ++rep) r.read("train", 0, buf.data());
      ok[t] = buf == image(256, 341, 3, 0);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, std::vector<int>(4, 1));
  EXPECT_THROW(r.size("val"), FormatError);
}

TEST(ImageCache, UncommittedLeavesNothingAndDamageIsNamed) {
  TempDir dir;
  const std::string path = (dir / "cache.h5");
  {
    ImageCacheWriter w(path, {"cifar100", "/c", 32});
    auto im = image(32, 32, 3, 1);
    w.add("train", im.data(), 32, 32, 3, 0, "a.png");
  }
  std::ifstream none(path);
  EXPECT_FALSE(none.good());
  {
    ImageCacheWriter w(path, {"cifar100", "/c", 32});
    auto im = image(32, 32, 3, 1);
    w.add("train", im.data(), 32, 32, 3, 0, "a.png");
    w.commit();
  }
  // Flip a pixel byte: find it by searching for the image's bytes in the file.
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto im = image(32, 32, 3, 1);
  const size_t at = bytes.find(std::string(im.begin(), im.begin() + 64));
  ASSERT_NE(at, std::string::npos);
  bytes[at + 100] ^= 0x01;
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    ImageCacheReader damaged(path);
    FAIL() << "a damaged cache was opened";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("damaged lorasub image cache: whole-file checksum mismatch"),
              std::string::npos)
        << e.what();
  }
  seal_file(path);  // behind the seal, each image's own CRC names the image
  ImageCacheReader r(path);
  std::vector<uint8_t> buf(32 * 32 * 3);
  try {
    r.read("train", 0, buf.data());
    FAIL() << "damaged image read without error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch for image 0 of split 'train' (a.png)"), std::string::npos)
        << e.what();
  }
  std::ofstream((dir / "not.h5")) << "nothing";
  EXPECT_THROW(ImageCacheReader((dir / "not.h5")), FormatError);
}

}  // namespace
}  // namespace lorasub::io
