// The image cache written by `lorasub prepare`: open (seal, index) and read images.
#include <vector>

#include "fuzz_util.h"
#include "lorasub/io/image_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lorasub::fuzz::write_file("cache.h5", data, size);
  try {
    lorasub::io::ImageCacheReader r(path);
    for (const std::string split : {"train", "test"}) {
      for (int64_t i = 0; i < 4 && i < r.size(split); ++i) {
        const auto& im = r.info(split, i);
        std::vector<uint8_t> buf(static_cast<size_t>(im.height * im.width * im.channels));
        r.read(split, i, buf.data());
      }
    }
  }
  LORASUB_FUZZ_BAD_INPUT_IS_FINE
  return 0;
}
