#include "lorasub/data/file_datasets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>

#include "image_test_util.h"
#include "lorasub/core/error.h"
#include "lorasub/core/rng.h"

namespace lorasub::data {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

// root/<wnid>/<k>.jpg for the given wnids (unsorted on purpose), `per` images each, plus
// distractors that must be ignored.
void make_imagenet_r(const fs::path& root, const std::vector<std::string>& wnids, int per) {
  const auto px = testing::gradient_rgb(12, 10);
  for (const auto& w : wnids) {
    fs::create_directories(root / w);
    for (int k = 0; k < per; ++k) {
      const std::string name = (k % 3 == 2) ? "img_" + std::to_string(k) + ".PNG" : "img_" + std::to_string(k) + ".jpg";
      if (k % 3 == 2) {
        testing::write_png((root / w / name).string(), 12, 10, 2, 8, testing::rgb_rows(px, 12, 10));
      } else {
        testing::write_jpeg((root / w / name).string(), px, 12, 10);
      }
    }
    std::ofstream((root / w / "notes.txt").string()) << "x";
    std::ofstream((root / w / ".hidden.jpg").string()) << "x";
  }
  std::ofstream((root / "README.txt").string()) << "x";
}

TEST(ImageNetR, ListingLabelsAreSortedWnidRanks) {
  TempDir dir;
  const fs::path root = dir.path() / "imagenet-r";
  make_imagenet_r(root, {"n02", "n01", "n10"}, 4);
  const FileList all = list_imagenet_r(root.string());
  EXPECT_EQ(all.class_names, (std::vector<std::string>{"n01", "n02", "n10"}));
  ASSERT_EQ(all.size(), 12);
  EXPECT_EQ(all.entries[0].path, "n01/img_0.jpg");
  EXPECT_EQ(all.entries[0].label, 0);
  EXPECT_EQ(all.entries[2].path, "n01/img_2.PNG");
  EXPECT_EQ(all.entries[4].path, "n02/img_0.jpg");
  EXPECT_EQ(all.entries[4].label, 1);
  EXPECT_EQ(all.entries[11].label, 2);
  EXPECT_EQ(all.full_path(4), (root / "n02/img_0.jpg").string());
  EXPECT_CONTAINS(all.source, "3 classes, 12 images");
  EXPECT_TRUE(std::is_sorted(all.entries.begin(), all.entries.end(), [](auto& a, auto& b) { return a.path < b.path; }));
}

TEST(ImageNetR, SeededSplitIsDeterministicDisjointAndEightyTwenty) {
  TempDir dir;
  const fs::path root = dir.path() / "imagenet-r";
  make_imagenet_r(root, {"n01", "n02", "n03", "n04", "n05"}, 10);  // 50 images
  const FileList all = list_imagenet_r(root.string());
  const TrainTest a = split_imagenet_r(all, 1993), b = split_imagenet_r(all, 1993), c = split_imagenet_r(all, 7);
  EXPECT_EQ(a.train.size(), 40);
  EXPECT_EQ(a.test.size(), 10);
  auto paths = [](const FileList& l) {
    std::vector<std::string> v;
    for (const auto& e : l.entries) v.push_back(e.path);
    return v;
  };
  EXPECT_EQ(paths(a.train), paths(b.train));
  EXPECT_EQ(paths(a.test), paths(b.test));
  EXPECT_NE(paths(a.test), paths(c.test));
  std::set<std::string> seen;
  for (const auto& p : paths(a.train)) seen.insert(p);
  for (const auto& p : paths(a.test)) EXPECT_EQ(seen.count(p), 0u) << p;
  for (const auto& p : paths(a.test)) seen.insert(p);
  EXPECT_EQ(seen.size(), 50u);
  // Labels survive the split.
  for (const auto& e : a.test.entries) EXPECT_EQ(e.label, e.path[2] - '1');
  EXPECT_EQ(a.train.class_names, all.class_names);
  // The listing order of the input does not matter.
  FileList shuffled = all;
  std::reverse(shuffled.entries.begin(), shuffled.entries.end());
  EXPECT_EQ(paths(split_imagenet_r(shuffled, 1993).test), paths(a.test));
  // 30,000 images -> 24,000 / 6,000.
  FileList big;
  for (int i = 0; i < 30000; ++i) big.entries.push_back({"n/" + std::to_string(i), 0});
  const TrainTest s = split_imagenet_r(big, 0);
  EXPECT_EQ(s.train.size(), 24000);
  EXPECT_EQ(s.test.size(), 6000);
}

TEST(ImageNetR, SplitStreamFixedValues) {
  // Pinned so that data/make_imagenet_r_split.py can be checked against it.
  const uint64_t s0 = splitmix64(1993ULL ^ 0x494d4147454e4552ULL);
  EXPECT_EQ(split_random(1993, 0), splitmix64(s0));
  EXPECT_EQ(split_random(1993, 5), splitmix64(s0 + 5));
}

TEST(ImageNetR, SplitFileInCodaFormat) {
  TempDir dir;
  const fs::path root = dir.path() / "imagenet-r";
  make_imagenet_r(root, {"n01", "n02", "n03"}, 3);
  // Paths with a leading dataset dir, bare, and absolute; targets are the sorted-wnid
  // ranks, as CODA-Prompt's files have them.
  std::ofstream(dir.file("train.yaml")) << "data:\n- data/imagenet-r/n03/img_0.jpg\n- n01/img_1.jpg\n- "
                                        << (root / "n02/img_2.PNG").string() << "\ntargets:\n- 2\n- 0\n- 1\n";
  const FileList l = read_imagenet_r_split(root.string(), dir.file("train.yaml"));
  ASSERT_EQ(l.size(), 3);
  EXPECT_EQ(l.entries[0].path, "n03/img_0.jpg");
  EXPECT_EQ(l.entries[0].label, 2);
  EXPECT_EQ(l.entries[1].path, "n01/img_1.jpg");
  EXPECT_EQ(l.entries[1].label, 0);
  EXPECT_EQ(l.entries[2].path, "n02/img_2.PNG");
  EXPECT_EQ(l.entries[2].label, 1);
  EXPECT_EQ(l.class_names.size(), 3u);

  // write -> read round trip of a seeded split.
  const TrainTest tt = split_imagenet_r(list_imagenet_r(root.string()), 3, 0.8);
  write_imagenet_r_split(tt.test, dir.file("test.yaml"));
  const FileList back = read_imagenet_r_split(root.string(), dir.file("test.yaml"));
  ASSERT_EQ(back.size(), tt.test.size());
  for (int64_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back.entries[i].path, tt.test.entries[i].path);
    EXPECT_EQ(back.entries[i].label, tt.test.entries[i].label);
  }
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(ImageNetR, SplitScriptWritesTheBuiltInSplit) {
  const fs::path script = testing::source_dir() / "data/make_imagenet_r_split.py";
  if (!fs::exists("/usr/bin/python3") || !fs::exists(script)) GTEST_SKIP() << "no python3/script";
  TempDir dir;
  const fs::path root = dir.path() / "imagenet-r";
  make_imagenet_r(root, {"n03", "n01", "n02", "n04"}, 9);
  std::ofstream((root / "n02/odd name #1.jpg").string()) << "x";  // needs quoting
  const FileList all = list_imagenet_r(root.string());
  ASSERT_EQ(all.size(), 37);
  for (uint64_t seed : {0ULL, 1993ULL}) {
    const fs::path out = dir.path() / ("out" + std::to_string(seed));
    const std::string cmd = "/usr/bin/python3 '" + script.string() + "' '" + root.string() + "' --seed " +
                            std::to_string(seed) + " --out-dir '" + out.string() + "' > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const TrainTest tt = split_imagenet_r(all, seed);
    write_imagenet_r_split(tt.train, dir.file("cpp_train.yaml"));
    write_imagenet_r_split(tt.test, dir.file("cpp_test.yaml"));
    EXPECT_EQ(slurp((out / "imagenet-r_train.yaml").string()), slurp(dir.file("cpp_train.yaml")));
    EXPECT_EQ(slurp((out / "imagenet-r_test.yaml").string()), slurp(dir.file("cpp_test.yaml")));
    // And the script's files read back as the same split.
    const FileList back = read_imagenet_r_split(root.string(), (out / "imagenet-r_test.yaml").string());
    ASSERT_EQ(back.size(), tt.test.size());
    for (int64_t i = 0; i < back.size(); ++i) EXPECT_EQ(back.entries[i].path, tt.test.entries[i].path);
  }
}

std::string split_error(const std::string& root, const std::string& yaml) {
  try {
    read_imagenet_r_split(root, yaml);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

TEST(ImageNetR, SplitFileErrors) {
  TempDir dir;
  const fs::path root = dir.path() / "imagenet-r";
  make_imagenet_r(root, {"n01", "n02"}, 2);
  std::ofstream y1(dir.file("missing.yaml"));
  y1 << "data:\n";
  for (int i = 0; i < 7; ++i) y1 << "- n01/gone_" << i << ".jpg\n";
  y1 << "- n01/img_0.jpg\ntargets: [0, 0, 0, 0, 0, 0, 0, 0]\n";
  y1.close();
  std::string m = split_error(root.string(), dir.file("missing.yaml"));
  EXPECT_CONTAINS(m, "7 of 8 listed images are missing");
  EXPECT_CONTAINS(m, "gone_0.jpg");
  EXPECT_CONTAINS(m, "gone_4.jpg");
  EXPECT_EQ(m.find("gone_5.jpg"), std::string::npos);

  std::ofstream(dir.file("len.yaml")) << "data: [n01/img_0.jpg]\ntargets: [0, 1]\n";
  EXPECT_CONTAINS(split_error(root.string(), dir.file("len.yaml")), "'targets' has 2");
  std::ofstream(dir.file("wnid.yaml")) << "data: [n99/img_0.jpg]\ntargets: [0]\n";
  EXPECT_CONTAINS(split_error(root.string(), dir.file("wnid.yaml")), "class 'n99'");
  // A target that disagrees with its folder's class: the file, the entry and both classes.
  std::ofstream(dir.file("target.yaml")) << "data: [n01/img_0.jpg, n02/img_0.jpg]\ntargets: [0, 500]\n";
  m = split_error(root.string(), dir.file("target.yaml"));
  EXPECT_CONTAINS(m, "target.yaml: entry 1 'n02/img_0.jpg': its target is class 500, but its folder 'n02' is class 1");
  EXPECT_CONTAINS(m, "of the 2 class folders of '" + root.string() + "'");
  std::ofstream(dir.file("swapped.yaml")) << "data: [n01/img_0.jpg, n02/img_0.jpg]\ntargets: [1, 0]\n";
  EXPECT_CONTAINS(split_error(root.string(), dir.file("swapped.yaml")),
                  "entry 0 'n01/img_0.jpg': its target is class 1");
  for (const char* bad : {"x", "1.5", "[1]", "~"}) {
    std::ofstream(dir.file("notint.yaml")) << "data: [n01/img_0.jpg]\ntargets: [" << bad << "]\n";
    EXPECT_CONTAINS(split_error(root.string(), dir.file("notint.yaml")), "'targets' entry 0 is not a class number")
        << bad;
  }
  std::ofstream(dir.file("map.yaml")) << "data: [{a: 1}]\ntargets: [0]\n";
  EXPECT_CONTAINS(split_error(root.string(), dir.file("map.yaml")), "entry 0 is not a path");
  std::ofstream(dir.file("scalar.yaml")) << "just a string\n";  // fuzzing: escaped as YAML::BadSubscript
  EXPECT_CONTAINS(split_error(root.string(), dir.file("scalar.yaml")), "is a map with 'data' and 'targets'");
  std::ofstream(dir.file("list.yaml")) << "- data\n- targets\n";
  EXPECT_CONTAINS(split_error(root.string(), dir.file("list.yaml")), "is a map with 'data' and 'targets'");
  std::ofstream(dir.file("keys.yaml")) << "paths: [n01/img_0.jpg]\n";
  EXPECT_CONTAINS(split_error(root.string(), dir.file("keys.yaml")), "'data' and 'targets'");
  EXPECT_CONTAINS(split_error(root.string(), dir.file("absent.yaml")), "absent.yaml");
  try {
    list_imagenet_r((dir.path() / "nowhere").string());
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_CONTAINS(e.what(), "nowhere");
  }
}

TEST(ImageNetR, AClassFolderWithoutImagesIsNamed) {
  TempDir dir;
  const fs::path root = dir.path() / "inr";
  make_imagenet_r(root, {"n01", "n02", "n03"}, 2);
  for (const auto& e : fs::directory_iterator(root / "n02")) fs::remove(e.path());
  std::ofstream((root / "n02" / "notes.txt").string()) << "not an image";
  try {
    list_imagenet_r(root.string());
    FAIL() << "an empty class folder was accepted";
  } catch (const FormatError& e) {
    EXPECT_CONTAINS(e.what(), "class folder '" + (root / "n02").string() + "' holds no images");
  }
}

TEST(DomainNet, ListsOfSelectedDomains) {
  TempDir dir;
  std::ofstream(dir.file("clipart_train.txt")) << "clipart/aircraft_carrier/clipart_001_000001.jpg 0\n"
                                               << "clipart/zigzag/clipart_344_000002.jpg 344\r\n\n"
                                               << "clipart/apple/clipart_005_000003.jpg 5\n";
  std::ofstream(dir.file("sketch_train.txt")) << "sketch/apple/sketch_005_000001.jpg 5\n";
  std::ofstream(dir.file("clipart_test.txt")) << "clipart/apple/clipart_005_000009.jpg 5\n";
  const FileList tr = read_domainnet(dir.path().string(), {"sketch", "clipart"}, true);
  ASSERT_EQ(tr.size(), 4);
  EXPECT_EQ(tr.entries[0].path, "sketch/apple/sketch_005_000001.jpg");
  EXPECT_EQ(tr.entries[0].label, 5);
  EXPECT_EQ(tr.entries[2].label, 344);
  EXPECT_EQ(tr.num_classes(), 345);
  EXPECT_EQ(tr.class_names[0], "aircraft_carrier");
  EXPECT_EQ(tr.class_names[5], "apple");
  EXPECT_EQ(tr.class_names[344], "zigzag");
  EXPECT_EQ(tr.class_names[1], "");
  EXPECT_EQ(tr.full_path(1), (dir.path() / "clipart/aircraft_carrier/clipart_001_000001.jpg").string());
  const FileList te = read_domainnet(dir.path().string(), {"clipart"}, false);
  EXPECT_EQ(te.size(), 1);
}

TEST(DomainNet, Errors) {
  TempDir dir;
  std::ofstream(dir.file("real_train.txt")) << "real/a/x.jpg 1\nreal/a/y.jpg\n";
  std::ofstream(dir.file("quickdraw_train.txt")) << "quickdraw/a/x.png 345\n";
  auto msg = [&](std::vector<std::string> d) -> std::string {
    try {
      read_domainnet(dir.path().string(), d, true);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_CONTAINS(msg({"real"}), "real_train.txt:2");
  EXPECT_CONTAINS(msg({"quickdraw"}), "outside [0, 345)");
  EXPECT_CONTAINS(msg({"painting"}), "painting_train.txt");
  EXPECT_CONTAINS(msg({"photos"}), "unknown domain 'photos'");
}

std::vector<uint8_t> cifar_record(uint8_t coarse, uint8_t fine, uint8_t seed) {
  std::vector<uint8_t> r = {coarse, fine};
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 1024; ++p) r.push_back(static_cast<uint8_t>(seed + c * 50 + p % 7));
  return r;
}

TEST(Cifar100, BinaryRecordsToHwc) {
  TempDir dir;
  fs::create_directories(dir.path() / "cifar-100-binary");
  std::vector<uint8_t> bytes;
  for (uint8_t k = 0; k < 5; ++k) {
    const auto r = cifar_record(static_cast<uint8_t>(k % 20), static_cast<uint8_t>(k * 20 + 3), k);
    bytes.insert(bytes.end(), r.begin(), r.end());
  }
  const std::string path = (dir.path() / "cifar-100-binary/train.bin").string();
  testing::write_bytes(path, bytes, false);
  const ImageSet s = read_cifar100_binary(path);
  EXPECT_EQ(s.size(), 5);
  EXPECT_EQ(s.height, 32);
  EXPECT_EQ(s.width, 32);
  EXPECT_EQ(s.channels, 3);
  EXPECT_EQ(s.labels, (std::vector<int64_t>{3, 23, 43, 63, 83}));
  // Image 2, pixel p = 10 (row 0, col 10): R = 2 + 10 % 7, G = 52 + 3, B = 102 + 3.
  const uint8_t* px = s.image(2) + 10 * 3;
  EXPECT_EQ(px[0], 5);
  EXPECT_EQ(px[1], 55);
  EXPECT_EQ(px[2], 105);

  std::ofstream((dir.path() / "cifar-100-binary/fine_label_names.txt").string()) << "apple\naquarium_fish\r\nbaby\n";
  EXPECT_EQ(read_cifar100_names((dir.path() / "cifar-100-binary/fine_label_names.txt").string()),
            (std::vector<std::string>{"apple", "aquarium_fish", "baby"}));
  EXPECT_TRUE(read_cifar100_names(dir.file("none.txt")).empty());

  bytes.resize(bytes.size() - 100);
  testing::write_bytes(path, bytes, false);
  try {
    read_cifar100_binary(path);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_CONTAINS(e.what(), path);
    EXPECT_CONTAINS(e.what(), "record 4 (0-based)");
  }
  auto bad = cifar_record(0, 100, 0);
  testing::write_bytes(path, bad, false);
  EXPECT_THROW(read_cifar100_binary(path), FormatError);
}

}  // namespace
}  // namespace lorasub::data
