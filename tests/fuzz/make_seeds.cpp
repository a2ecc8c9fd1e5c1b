// Writes the seed inputs that are binary files made by code rather than kept in git: the
// HDF5 files lorasub itself writes (fuzz_h5_reader, fuzz_image_cache) and CIFAR-100 python
// version pickles in every pickler's layout (fuzz_cifar100_python, by tests/tools/cifar_pickle.h):
//   make_seeds DIR  ->  DIR/fuzz_h5_reader/sample.h5, DIR/fuzz_image_cache/tiny.h5,
//                       DIR/fuzz_cifar100_python/{train,meta}_{py2,proto2,...,proto5}
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../tools/cifar_pickle.h"
#include "lorasub/io/h5file.h"
#include "lorasub/io/image_cache.h"

namespace {

// Two images and a meta file per pickler; the images are small so mutations stay cheap.
void cifar_python_seeds(const std::string& dir) {
  using lorasub::testing::Dialect;
  std::filesystem::create_directories(dir);
  lorasub::testing::CifarContent c;
  c.rows = 2, c.filenames = {"apple_s_000022.png", "bee_s_001012.png"}, c.fine = {0, 99}, c.coarse = {4, 6};
  for (int i = 0; i < 2 * 3072; ++i) c.data += static_cast<char>((i * 37) & 0xff);
  std::vector<std::string> fine, coarse;
  for (int k = 0; k < 100; ++k) fine.push_back("class_" + std::to_string(k));
  for (int k = 0; k < 20; ++k) coarse.push_back("super_" + std::to_string(k));
  const char* names[] = {"py2", "proto2", "proto3", "proto4", "proto5"};
  for (const Dialect d : {Dialect::kPy2, Dialect::kProto2, Dialect::kProto3, Dialect::kProto4, Dialect::kProto5}) {
    const std::string tag = names[static_cast<int>(d)];
    std::ofstream(dir + "/train_" + tag, std::ios::binary) << lorasub::testing::cifar_pickle(d, c);
    std::ofstream(dir + "/meta_" + tag, std::ios::binary) << lorasub::testing::cifar_meta_pickle(d, fine, coarse);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::filesystem::create_directories(dir + "/fuzz_h5_reader");
  std::filesystem::create_directories(dir + "/fuzz_image_cache");
  {  // What a checkpoint is made of: numeric datasets in groups, strings, root attributes.
    lorasub::io::H5Writer w(dir + "/fuzz_h5_reader/sample.h5");
    w.set_attr("/", "format", "lorasub-checkpoint");
    w.set_attr("/", "format_version", int64_t{3});
    w.set_attr("/", "kind", "step");
    w.set_attr("/", "task", int64_t{1});
    w.set_attr("/", "global_step", int64_t{42});
    w.write("adapters/task_0/block_0/a_k", {3, 4}, std::vector<float>(12, 0.25f));
    w.write("accuracy/matrix", {2, 2}, std::vector<double>{90.0, 0.0, 80.0, 85.0});
    w.write("prototypes/counts", {4}, std::vector<int64_t>{5, 6, 7, 8});
    w.write("bytes", {3}, std::vector<uint8_t>{1, 2, 3});
    w.write_string("config_yaml", "run:\n  name: seed\n");
    w.commit();
  }
  {
    lorasub::io::ImageCacheWriter w(dir + "/fuzz_image_cache/tiny.h5", {"imagenet-r", "/data", 8});
    std::vector<uint8_t> px(8 * 6 * 3);
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 7);
    w.add("train", px.data(), 8, 6, 3, 0, "n01/a.jpg");
    w.add("test", px.data(), 6, 8, 3, 1, "n02/b.png");
    w.commit();
  }
  cifar_python_seeds(dir + "/fuzz_cifar100_python");
  return 0;
}
