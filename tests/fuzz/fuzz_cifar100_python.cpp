// CIFAR-100 python version: the pickled train/test dicts and the meta file (the same
// bytes through both readers, so the unpickler sees every input twice as often).
#include "fuzz_util.h"
#include "lorasub/data/cifar_python.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lorasub::fuzz::write_file("train", data, size);
  try {
    lorasub::data::read_cifar100_python(path);
  }
  LORASUB_FUZZ_BAD_INPUT_IS_FINE
  try {
    lorasub::data::read_cifar100_python_names(path);
  }
  LORASUB_FUZZ_BAD_INPUT_IS_FINE
  return 0;
}
