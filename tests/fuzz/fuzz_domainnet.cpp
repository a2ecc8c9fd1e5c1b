// DomainNet list files: "relative/path label" lines.
#include "fuzz_util.h"
#include "lorasub/data/file_datasets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lorasub::fuzz::write_file("dn/clipart_train.txt", data, size);
  try {
    lorasub::data::read_domainnet(lorasub::fuzz::scratch() + "/dn", {"clipart"}, true);
  }
  LORASUB_FUZZ_BAD_INPUT_IS_FINE
  return 0;
}
