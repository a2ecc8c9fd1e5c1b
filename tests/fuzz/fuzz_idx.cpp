// IDX image + label files (Fashion-MNIST), plain or gzip: the first byte k splits the
// input into a labels file of k bytes and an images file of the rest.
#include "fuzz_util.h"
#include "lorasub/data/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t k = std::min<size_t>(data[0], size - 1);
  const std::string labels = lorasub::fuzz::write_file("labels-idx1-ubyte", data + 1, k);
  const std::string images = lorasub::fuzz::write_file("images-idx3-ubyte", data + 1 + k, size - 1 - k);
  try {
    const lorasub::data::ImageSet s = lorasub::data::read_idx(images, labels);
    if (s.pixels.size() != static_cast<size_t>(s.size() * s.image_bytes())) __builtin_trap();
  }
  LORASUB_FUZZ_BAD_INPUT_IS_FINE
  return 0;
}
