#include "lorasub/data/real_datasets.h"

#include <gtest/gtest.h>

#include <fstream>

#include "image_test_util.h"
#include "lorasub/core/error.h"
#include "lorasub/data/loader.h"
#include "lorasub/data/open_dataset.h"
#include "tools/cifar_pickle.h"

namespace lorasub::data {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

void jpeg_at(const fs::path& p, int w, int h, uint8_t shade) {
  fs::create_directories(p.parent_path());
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3, shade);
  testing::write_jpeg(p.string(), px, w, h);
}

TEST(RealDataset, ImageNetRSeededAndSplitFiles) {
  TempDir dir;
  const fs::path root = dir.path() / "imagenet-r";
  for (const char* w : {"n02", "n01"})
    for (int k = 0; k < 5; ++k) jpeg_at(root / w / ("a" + std::to_string(k) + ".jpg"), 30, 20, 100);
  RealDatasetOptions opt;
  opt.dataset = "imagenet-r";
  opt.root = root.string();
  opt.split_seed = 5;
  opt.image_size = 16;
  const RealDataset d = open_real_dataset(opt);
  EXPECT_EQ(d.num_classes, 2);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"n01", "n02"}));
  EXPECT_EQ(d.train->size(), 8);
  EXPECT_EQ(d.test->size(), 2);
  EXPECT_EQ(d.train->height(), 16);
  // A batch through the loader: a constant JPEG stays (nearly) constant.
  Loader loader(d.train, true, 2, 2);
  loader.start({{0, 1, 2}}, StreamKey{1, 0, 0});
  const auto b = loader.next();
  ASSERT_TRUE(b.has_value());
  for (float v : b->pixels) EXPECT_NEAR(v, 100 / 255.0f, 3 / 255.0f);

  std::ofstream(dir.file("tr.yaml")) << "data: [imagenet-r/n02/a0.jpg, imagenet-r/n01/a3.jpg]\ntargets: [1, 0]\n";
  std::ofstream(dir.file("te.yaml")) << "data: [imagenet-r/n01/a1.jpg]\ntargets: [0]\n";
  opt.split_train = dir.file("tr.yaml");
  EXPECT_THROW(open_real_dataset(opt), ConfigError);
  opt.split_test = dir.file("te.yaml");
  const RealDataset s = open_real_dataset(opt);
  EXPECT_EQ(s.train->size(), 2);
  EXPECT_EQ(s.train->label(0), 1);
  EXPECT_EQ(s.train->label(1), 0);
  EXPECT_EQ(s.test->size(), 1);
}

TEST(RealDataset, DomainNetAndCifarAndUnknown) {
  TempDir dir;
  jpeg_at(dir.path() / "real/apple/r1.jpg", 20, 20, 50);
  jpeg_at(dir.path() / "real/bee/r2.jpg", 20, 20, 60);
  std::ofstream(dir.file("real_train.txt")) << "real/apple/r1.jpg 5\nreal/bee/r2.jpg 17\n";
  std::ofstream(dir.file("real_test.txt")) << "real/bee/r2.jpg 17\n";
  RealDatasetOptions opt;
  opt.dataset = "domainnet";
  opt.root = dir.path().string();
  opt.domains = {"real"};
  opt.image_size = 8;
  const RealDataset d = open_real_dataset(opt);
  EXPECT_EQ(d.num_classes, 345);
  EXPECT_EQ(d.class_names[17], "bee");
  EXPECT_EQ(d.train->size(), 2);
  EXPECT_EQ(d.test->label(0), 17);
  const Batch b = make_batch(*d.test, false, {0}, StreamKey{});
  for (float v : b.pixels) EXPECT_NEAR(v, 60 / 255.0f, 3 / 255.0f);

  const fs::path c = dir.path() / "cifar-100-binary";
  fs::create_directories(c);
  std::vector<uint8_t> rec(3074, 7);
  rec[1] = 42;
  testing::write_bytes((c / "train.bin").string(), rec, false);
  rec[1] = 3;
  std::vector<uint8_t> two = rec;
  two.insert(two.end(), rec.begin(), rec.end());
  testing::write_bytes((c / "test.bin").string(), two, false);
  RealDatasetOptions co;
  co.dataset = "cifar100";
  co.root = c.string();
  co.image_size = 32;
  const RealDataset cd = open_real_dataset(co);
  EXPECT_EQ(cd.num_classes, 100);
  EXPECT_EQ(cd.class_names[42], "42");
  EXPECT_EQ(cd.train->size(), 1);
  EXPECT_EQ(cd.train->label(0), 42);
  EXPECT_EQ(cd.test->size(), 2);
  const Batch cb = make_batch(*cd.test, false, {1}, StreamKey{});
  for (float v : cb.pixels) EXPECT_NEAR(v, 7 / 255.0f, 1e-6);

  co.dataset = "cifar10";
  try {
    open_real_dataset(co);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_CONTAINS(e.what(), "imagenet-r, domainnet, cifar100");
  }
}

// A root holding train, test and meta is the python version: the pickles are read, the
// class names come from meta; a root with neither version names both.
TEST(RealDataset, CifarPythonVersion) {
  TempDir dir;
  const fs::path c = dir.path() / "cifar-100-python";
  fs::create_directories(c);
  using lorasub::testing::Dialect;
  lorasub::testing::CifarContent train, test;
  train.rows = 2, train.fine = {42, 7}, train.coarse = {8, 1}, train.filenames = {"a.png", "b.png"};
  train.data = std::string(3072, '\x07') + std::string(3072, '\x09');
  test.rows = 1, test.fine = {3}, test.coarse = {0}, test.filenames = {"c.png"};
  test.batch_label = "testing batch 1 of 1";
  test.data = std::string(3072, '\x05');
  std::vector<std::string> fine, coarse(20, "super");
  for (int k = 0; k < 100; ++k) fine.push_back("class" + std::to_string(k));
  std::ofstream(c / "train", std::ios::binary) << lorasub::testing::cifar_pickle(Dialect::kPy2, train);
  std::ofstream(c / "test", std::ios::binary) << lorasub::testing::cifar_pickle(Dialect::kPy2, test);
  std::ofstream(c / "meta", std::ios::binary) << lorasub::testing::cifar_meta_pickle(Dialect::kPy2, fine, coarse);
  RealDatasetOptions co;
  co.dataset = "cifar100";
  co.root = c.string();
  co.image_size = 32;
  const RealDataset cd = open_real_dataset(co);
  EXPECT_EQ(cd.num_classes, 100);
  EXPECT_EQ(cd.class_names, fine);
  EXPECT_CONTAINS(cd.description, "python version");
  EXPECT_EQ(cd.train->size(), 2);
  EXPECT_EQ(cd.train->label(0), 42);
  EXPECT_EQ(cd.train->label(1), 7);
  EXPECT_EQ(cd.test->size(), 1);
  const Batch cb = make_batch(*cd.train, false, {1}, StreamKey{});
  for (float v : cb.pixels) EXPECT_NEAR(v, 9 / 255.0f, 1e-6);

  DataConfig dc;
  dc.dataset = "cifar100";
  ModelConfig mc;
  mc.image_size = 32;
  mc.channels = 3;
  const DataSplits s = open_dataset("cifar100", c.string(), dc, mc, 1);
  EXPECT_EQ(s.train.labels, (std::vector<int64_t>{42, 7}));
  EXPECT_EQ(s.test.labels, (std::vector<int64_t>{3}));
  try {
    open_dataset("cifar100", dir.path().string(), dc, mc, 1);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_CONTAINS(e.what(), "'" + dir.path().string() + "' holds neither version of CIFAR-100");
    EXPECT_CONTAINS(e.what(), "cifar-100-binary folder (train.bin, test.bin) or the cifar-100-python folder "
                              "(train, test, meta) ('" +
                                  c.string() + "' is one");
  }
}

}  // namespace
}  // namespace lorasub::data
