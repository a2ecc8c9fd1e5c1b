// What the commands that take a config start with, done once: the config (every rank
// parses the same), this rank's intra-op threads, its device (resolved and activated)
// and the communicator for that device. And how they end on an error.
#pragma once
#include <functional>
#include <memory>

#include "command.h"
#include "lorasub/core/config.h"
#include "lorasub/dist/communicator.h"
#include "lorasub/train/device.h"

namespace lorasub::cli {

struct Session {
  Config cfg;
  train::TrainDevice device;
  std::unique_ptr<dist::Communicator> comm;
};

// Throws ConfigError for a bad config, device or backend (every rank alike).
Session open_session(const ConfigArgs& args, const dist::World& world);

// Runs `body`; an error ends the job with its exit code (dist::end_job: bad input 2,
// NaN/Inf 3, anything else 1), said once where every rank hit it.
int run_guarded(const dist::World& world, const std::function<int()>& body);

}  // namespace lorasub::cli
