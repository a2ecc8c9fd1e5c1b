// ImageNet-R split files in the CODA-Prompt yaml format (data.split_train/test).
#include "fuzz_util.h"
#include "lorasub/data/file_datasets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool tree = [] {  // two class folders for the listing to find
    lorasub::fuzz::write_file("inr/n01/a.jpg", nullptr, 0);
    lorasub::fuzz::write_file("inr/n02/b.png", nullptr, 0);
    return true;
  }();
  (void)tree;
  const std::string path = lorasub::fuzz::write_file("split.yaml", data, size);
  try {
    lorasub::data::read_imagenet_r_split(lorasub::fuzz::scratch() + "/inr", path);
  }
  LORASUB_FUZZ_BAD_INPUT_IS_FINE
  return 0;
}
