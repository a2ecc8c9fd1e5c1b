// Taking a run directory for one run: it is created and proven writable before any
// training, held under an exclusive flock(2) on <dir>/.lock for the whole run (a second
// lorasub on the same run.name is refused, not interleaved), and an earlier run's
// outputs are never overwritten unless the user said so.
#pragma once
#include <string>
#include <vector>

namespace lorasub::io {

class RunLock {
 public:
  // Creates `dir` (mkdir -p) and takes its lock. ConfigError, naming the directory and
  // the cause, when it cannot be created or written, or when another process holds it
  // (with that process's pid when known).
  explicit RunLock(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int fd_ = -1;
};

// What an earlier run left in `dir`: its checkpoints, results and config (sorted paths;
// [] for a fresh or missing directory). Stale temporaries (*.tmp-*) are not outputs.
std::vector<std::string> run_outputs(const std::string& dir);
// Removes run_outputs(dir) and stale temporaries (--overwrite; the lock must be held).
void remove_run_outputs(const std::string& dir);
// Removes the *.tmp-* files of writers that died, in `dir` and its checkpoints/
// (the lock must be held: nobody else writes there).
void remove_stale_temporaries(const std::string& dir);

}  // namespace lorasub::io
