// The run directory: runs/<name>/{config.yaml, checkpoints/, results.json,
// accuracy_matrix.csv, report.html, events.jsonl}. Every file written through it
// lands atomically (temporary name + fsync + rename).
#pragma once
#include <string>
#include <vector>

namespace lorasub::io {

class RunDir {
 public:
  // `name` may not be empty nor hold a ".." component (ConfigError).
  RunDir(const std::string& parent, const std::string& name);

  const std::string& path() const { return path_; }
  // mkdir -p of the run directory and its checkpoints/ folder. Throws ConfigError
  // naming the directory it could not create and why (errno text).
  void create() const;
  // path()/rel; `rel` must be relative (std::invalid_argument otherwise).
  std::string file(const std::string& rel) const;
  // Writes path()/rel atomically, creating its parent folders inside the run directory.
  void write_text_atomic(const std::string& rel, const std::string& content) const;
  std::string checkpoints_dir() const { return path_ + "/checkpoints"; }

 private:
  std::string path_;
};

// mkdir -p; throws ConfigError "cannot create directory '<dir>': mkdir '<part>': <errno text>".
void make_dirs(const std::string& dir);
// Paths of the regular files in `dir` whose name contains `part`, sorted ([] when the
// directory does not exist).
std::vector<std::string> list_files(const std::string& dir, const std::string& part);

}  // namespace lorasub::io
