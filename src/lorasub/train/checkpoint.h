// Resumable checkpoints (ARCHITECTURE invariants 3 and 4): one HDF5 file holds
// everything the next step depends on. Layout: docs/checkpoint-format.md. The directory
// of them: checkpoint_dir.h; whether one can be resumed: resume_check.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lorasub/core/config.h"
#include "lorasub/method/learner.h"
#include "lorasub/train/run_state.h"

namespace lorasub::train {

constexpr int64_t kCheckpointFormatVersion = 3;  // 3: sealed (io/file_seal.h)
constexpr const char* kCheckpointFormat = "lorasub-checkpoint";

struct Checkpoint {
  std::string kind;  // task_end | step | stop
  Position pos;
  method::LearnerState learner;
  TrainerState trainer;  // the Trainer's state: summary so far, the task in progress, resumes
  std::string config_yaml, config_hash, resume_hash, backbone_sha256, lorasub_version;
  std::vector<int64_t> class_order, task_sizes;
  int64_t ranks = 1;  // ranks of the run that wrote it
  int64_t created_unix = 0;
  at::Tensor drift_reference;         // train.drift: DriftTracker::reference() (undefined: none)
  at::Tensor drift_sample_reference;  // train.drift, sampled: DriftTracker::sample_reference()
};

// Atomic: temporary name, fsync, rename (io::H5Writer). Throws with the path on failure.
void write_checkpoint(const std::string& path, const Checkpoint& c);

// Reads and checks a checkpoint: HDF5 integrity, every dataset's CRC-32, the format
// name and version. Throws FormatError "<path>: <the failed check>".
Checkpoint read_checkpoint(const std::string& path);

}  // namespace lorasub::train
