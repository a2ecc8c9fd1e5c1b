// One run directory as the report sees it: results.json (required), config.yaml
// (optional). Keys added by later lorasub versions are read when present and
// tolerated when absent.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lorasub::report {

struct PhaseSeconds {
  double covariance = 0, train = 0, prototypes = 0, eval = 0, checkpoint = 0, drift = 0;
};

struct TaskRecord {
  int64_t task = 0;
  double overall = 0;  // A_t: accuracy on every class seen so far (%)
  int64_t classes = 0;
  std::vector<int64_t> kept_dims;  // DRS kept dimensions per block; [] without DRS
  PhaseSeconds seconds;
  double train_images = -1;  // images trained in this task; -1 when not recorded
};

// How far task `task`'s class means moved by the end of task `after_task` (> task).
struct DriftPoint {
  int64_t task = 0, after_task = 0;
  double cosine_distance = 0;
  double accuracy_drop = 0;  // percentage points lost by the stale prototypes
  bool has_accuracy_drop = false;
};

struct RunData {
  std::string dir;  // as given on the command line
  std::string run, method, dataset;
  int64_t seed = 0, ranks = 0;
  double a_last = 0, a_avg = 0, forgetting = 0, bwt = 0;
  double wall_seconds = 0, train_images_per_second = 0;
  std::vector<std::vector<double>> matrix;  // R[i][j], j <= i (row i has i + 1 entries)
  std::vector<TaskRecord> tasks;
  std::vector<DriftPoint> drift;
  std::string config_yaml;                    // "" when the run has no config.yaml
  std::map<std::string, std::string> config;  // "section.key" -> value text
};

// Parses results.json text; `path` names the file in errors. FormatError when it is
// not JSON, not an object, or a required key (method, A_last, A_avg, forgetting,
// accuracy_matrix, tasks) is missing or of the wrong type, or the matrix is not lower
// triangular.
RunData parse_results(const std::string& text, const std::string& path);

// "section:\n  key: value" (the config.yaml lorasub writes) -> {"section.key": "value"},
// quotes removed. Lines of any other shape are ignored.
std::map<std::string, std::string> flatten_config(const std::string& yaml);

// Reads DIR/results.json and DIR/config.yaml. ConfigError when DIR is not a directory
// or has no results.json; FormatError naming the file when it is malformed.
RunData load_run(const std::string& dir);

}  // namespace lorasub::report
