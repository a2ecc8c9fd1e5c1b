// A run directory's results.json and config.yaml as `lorasub report` reads them: the
// input is parsed as both, and what parses is rendered into a report page.
#include "fuzz_util.h"
#include "lorasub/report/report.h"
#include "lorasub/report/run_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    lorasub::report::RunData run = lorasub::report::parse_results(text, "results.json");
    run.config_yaml = text;
    run.config = lorasub::report::flatten_config(text);
    lorasub::report::render_report({run, run});
  }
  LORASUB_FUZZ_BAD_INPUT_IS_FINE
  return 0;
}
