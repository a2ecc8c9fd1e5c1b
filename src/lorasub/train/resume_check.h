// What decides whether a checkpoint can be resumed under this config and backbone.
#pragma once
#include <string>
#include <vector>

#include "lorasub/core/config.h"

namespace lorasub::train {

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

}  // namespace lorasub::train
