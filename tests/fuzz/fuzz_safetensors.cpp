// safetensors files (model.weights).
#include "fuzz_util.h"
#include "lorasub/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lorasub::fuzz::write_file("w.safetensors", data, size);
  try {
    lorasub::io::SafeTensorsFile f = lorasub::io::SafeTensorsFile::read(path);
    for (const auto& [name, t] : f.tensors()) {
      size_t n = 1;
      for (int64_t d : t.shape) n *= static_cast<size_t>(d);
      if (n != t.values.size()) __builtin_trap();  // shape and values must agree
    }
  }
  LORASUB_FUZZ_BAD_INPUT_IS_FINE
  return 0;
}
