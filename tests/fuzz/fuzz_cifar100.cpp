// CIFAR-100 binary files (records of coarse, fine, 3072 pixel bytes).
#include "fuzz_util.h"
#include "lorasub/data/file_datasets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lorasub::fuzz::write_file("train.bin", data, size);
  try {
    lorasub::data::read_cifar100_binary(path);
  }
  LORASUB_FUZZ_BAD_INPUT_IS_FINE
  return 0;
}
