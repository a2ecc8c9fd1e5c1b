// Config YAML and --set overrides: input = YAML text, then optionally a NUL byte and
// newline-separated "section.key=value" overrides.
#include <cstdint>

#include "fuzz_util.h"
#include <sstream>
#include <string>
#include <vector>

#include "lorasub/core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  std::vector<std::string> overrides;
  if (nul != std::string::npos) {
    std::istringstream lines(in.substr(nul + 1));
    for (std::string l; std::getline(lines, l);) overrides.push_back(l);
  }
  try {
    lorasub::Config c = lorasub::parse_config(in.substr(0, nul), "fuzz.yaml", overrides);
    // A config that parses must dump and parse back to itself.
    if (lorasub::parse_config(lorasub::dump_config(c), "dump") != c) __builtin_trap();
  }
  LORASUB_FUZZ_BAD_INPUT_IS_FINE
  return 0;
}
