// Resumable checkpoints (ARCHITECTURE invariants 3 and 4): one HDF5 file holds
// everything the next step depends on. Layout: docs/checkpoint-format.md.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lorasub/core/config.h"
#include "lorasub/method/learner.h"
#include "lorasub/train/trainer.h"

namespace lorasub::train {

constexpr int64_t kCheckpointFormatVersion = 3;  // 3: sealed (io/file_seal.h)
constexpr const char* kCheckpointFormat = "lorasub-checkpoint";

// Where training stands: the next thing to do is batch `batch` of epoch `epoch` of
// task `task` (epoch == epochs of the task: training done, prototypes and evaluation
// not), or, when task_done, task + 1 from its start.
struct Position {
  int64_t task = 0, epoch = 0, batch = 0, global_step = 0;
  bool task_done = false;
};

struct Checkpoint {
  std::string kind;               // task_end | step | stop
  Position pos;
  method::LearnerState learner;
  TrainSummary summary;           // completed tasks' rows and timings, totals so far
  PhaseSeconds current;           // the task in progress: phase seconds so far
  double current_step_seconds = 0;
  int64_t current_steps = 0;
  std::string config_yaml, config_hash, resume_hash, backbone_sha256, lorasub_version;
  std::vector<int64_t> class_order, task_sizes;
  int64_t ranks = 1;              // ranks of the run that wrote it
  int64_t created_unix = 0;
  std::string history_json = "[]";  // earlier resumes: [{from, global_step, ranks, config_changed}]
  at::Tensor drift_reference;     // train.drift: DriftTracker::reference() (undefined: none)
};

// Atomic: temporary name, fsync, rename (io::H5Writer). Throws with the path on failure.
void write_checkpoint(const std::string& path, const Checkpoint& c);

// Reads and checks a checkpoint: HDF5 integrity, every dataset's CRC-32, the format
// name and version. Throws FormatError "<path>: <the failed check>".
Checkpoint read_checkpoint(const std::string& path);

// The hash of the keys that change results (everything but where and how the run is
// executed: run.dir/name, loader threads, logging, checkpoint cadence, metrics, fault
// injection, backend). A resume with a different one is refused without
// --allow-config-change.
std::string resume_hash(const Config& cfg);
// "key: saved -> now" for every key of the resume hash that differs between the
// config a checkpoint was written with (its YAML dump) and `now`.
std::vector<std::string> resume_differences(const std::string& saved_yaml, const Config& now);

// "random-init" for an empty path, else the file's SHA-256.
std::string backbone_identity(const std::string& weights_path);

// Checkpoint files in `dir`: files whose root attributes cannot be read first (so the
// caller tries, names and skips them), then the rest newest first (by global step; a
// task-end checkpoint after a step checkpoint of the same step).
std::vector<std::string> list_checkpoints(const std::string& dir);

// Deletes the oldest step checkpoints beyond `keep` (task-end ones too unless
// keep_task_ends), never `protect`. Returns the deleted paths.
std::vector<std::string> prune_checkpoints(const std::string& dir, int64_t keep, bool keep_task_ends,
                                           const std::string& protect);

// What `lorasub inspect` prints; `ok` tells whether every integrity check passed.
std::string describe_checkpoint(const std::string& path, bool* ok);

}  // namespace lorasub::train
