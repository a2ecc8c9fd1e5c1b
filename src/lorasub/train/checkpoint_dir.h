// A run's checkpoint directory: which checkpoints there are (newest first, damaged
// ones named), which to delete, and what `lorasub inspect` says of one.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lorasub::train {

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
