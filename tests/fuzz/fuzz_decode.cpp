// JPEG and PNG decoding, at full size and at the training path's reduced DCT scale.
#include <cstdint>

#include "fuzz_util.h"

#include "lorasub/data/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (int64_t short_side : {int64_t{0}, int64_t{224}}) {
    try {
      const lorasub::data::DecodedImage im = lorasub::data::decode_image_bytes(data, size, "fuzz", short_side);
      if (im.pixels.size() != static_cast<size_t>(im.height * im.width * 3)) __builtin_trap();
    }
    LORASUB_FUZZ_BAD_INPUT_IS_FINE
  }
  return 0;
}
