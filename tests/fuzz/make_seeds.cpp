// Writes the HDF5 seed inputs of fuzz_h5_reader and fuzz_image_cache (binary files that
// lorasub itself writes, so they are made here rather than kept in git):
//   make_seeds DIR  ->  DIR/fuzz_h5_reader/sample.h5, DIR/fuzz_image_cache/tiny.h5
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "lorasub/io/h5file.h"
#include "lorasub/io/image_cache.h"

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
  return 0;
}
