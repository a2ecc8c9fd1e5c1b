// The HDF5 reader behind checkpoints: seal check, then every dataset and attribute
// read and verified. (A mutated file fails the seal; seeds are real sealed files.)
#include "fuzz_util.h"
#include "lorasub/io/h5file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = lorasub::fuzz::write_file("c.h5", data, size);
  try {
    lorasub::io::H5Reader r(path, "lorasub checkpoint");
    r.verify();
    for (const std::string& a : {"format", "kind", "config_hash"})
      if (r.has_attr("/", a)) r.attr_string("/", a);
    for (const std::string& a : {"format_version", "task", "global_step"})
      if (r.has_attr("/", a)) r.attr_int("/", a);
  }
  LORASUB_FUZZ_BAD_INPUT_IS_FINE
  return 0;
}
