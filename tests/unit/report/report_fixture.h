// Run directories for the report tests: results.json and config.yaml as lorasub train
// writes them, with hand-chosen numbers.
#pragma once
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "unit/io/temp_dir.h"

namespace lorasub::report::test {

// results.json of a run over R (lower triangular). A_t = the row mean, kept dims
// {16 - t, 15 - t} per task unless `drs` is false.
inline nlohmann::json results_json(const std::string& run, const std::string& method, int seed,
                                   const std::vector<std::vector<double>>& r, bool drs = true) {
  nlohmann::json j;
  j["run"] = run;
  j["method"] = method;
  j["dataset"] = "synthetic";
  j["seed"] = seed;
  j["ranks"] = 1;
  j["accuracy_matrix"] = r;
  j["A_last"] = 0.0;
  j["A_avg"] = 0.0;
  j["forgetting"] = 0.0;
  j["bwt"] = 0.0;
  j["train_images_per_second"] = 100.0 + seed;
  j["wall_seconds"] = 2.5;
  j["tasks"] = nlohmann::json::array();
  for (size_t t = 0; t < r.size(); ++t) {
    double a = 0;
    for (double v : r[t]) a += v;
    a /= static_cast<double>(r[t].size());
    nlohmann::json task = {{"task", t},
                           {"A", a},
                           {"classes", 2},
                           {"per_task", r[t]},
                           {"seconds",
                            {{"covariance", 0.1},
                             {"train", 1.0},
                             {"prototypes", 0.2},
                             {"eval", 0.3},
                             {"checkpoint", 0.05},
                             {"total", 1.65}}}};
    task["drs_kept_dims"] =
        drs ? nlohmann::json{16 - static_cast<int>(t), 15 - static_cast<int>(t)} : nlohmann::json::array();
    j["tasks"].push_back(task);
    j["A_last"] = a;
  }
  return j;
}

inline std::string config_yaml(const std::string& run, int seed, const std::string& method = "lora-drs",
                               bool project = true) {
  return "run:\n  name: " + run + "\n  dir: runs\n  seed: " + std::to_string(seed) + "\nmethod:\n  name: " + method +
         "\n  rank: 3\ndrs:\n  subtract: true\n  project: " + (project ? "true" : "false") +
         "\ntrain:\n  threads: " + std::to_string(seed) + "\n  lr: 0.0005\n";
}

// DIR/<name>/{results.json, config.yaml}; returns the run directory.
inline std::string make_run(const io::test::TempDir& dir, const std::string& name, const nlohmann::json& results,
                            const std::string& config) {
  const std::string run = dir / name;
  ::mkdir(run.c_str(), 0755);
  io::test::write_bytes(run + "/results.json", results.dump(2));
  if (!config.empty()) io::test::write_bytes(run + "/config.yaml", config);
  return run;
}

}  // namespace lorasub::report::test
