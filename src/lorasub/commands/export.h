// `lorasub export`: one finished task's model as a safetensors file that timm, or any
// safetensors reader, loads as a plain ViT. The backbone's k/v rows carry the merged
// LoRA deltas of tasks 0..T (W0 + sum_{s<=T} B_s A_s, folded exactly as the learner
// folds them for its evaluation), under timm key names; the NCM prototypes, the class
// order and what `lorasub predict` needs (model shape, test transform, precision) ride
// along as lorasub.* tensors and __metadata__ entries. Layout: docs/export.md.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "lorasub/commands/export_format.h"

namespace lorasub::commands {

struct ExportRequest {
  std::string run_dir;
  int64_t task = -1;  // 0-based, as in checkpoints/task_TTT.h5; -1: the last finished task
  std::string output;
  bool overwrite = false;  // replace an existing output file
  std::string backbone;    // "" = the run's model.weights (checked against the checkpoint's SHA-256 either way)
};

struct ExportSummary {
  std::string checkpoint, output, backbone;  // backbone: the file used, or "random-init"
  int64_t task = 0, classes = 0;
  double accuracy = 0;  // the run's own evaluation after `task`: A_t, % of all seen test images
};

// Writes req.output atomically (temporary name, fsync, rename). Bad input (no such run
// directory, no finished task, task out of range, output exists without overwrite,
// backbone missing or not the one the run trained on, damaged checkpoint) throws
// ConfigError or FormatError naming the path, before anything is written.
ExportSummary export_model(const ExportRequest& req);

// The task-end checkpoints of a run directory by task (RUN_DIR/checkpoints/task_TTT.h5).
std::map<int64_t, std::string> task_end_checkpoints(const std::string& run_dir);

}  // namespace lorasub::commands
