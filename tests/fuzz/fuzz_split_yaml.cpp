// ImageNet-R split files in the CODA-Prompt yaml format (data.split_train/test).
#include "fuzz_util.h"
#include "lorasub/data/file_datasets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lorasub::fuzz::write_file("split.yaml", data, size);
  try {
    lorasub::data::read_imagenet_r_split(lorasub::fuzz::scratch() + "/inr", path);
  } catch (const std::exception&) {
  }
  return 0;
}
