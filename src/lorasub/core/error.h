// Errors: exceptions with context inside the library; the CLI turns them into exit codes.
#pragma once
#include <stdexcept>
#include <string>

namespace lorasub {

// Exit codes shared by the CLI, the launch scripts and the docs.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,    // runtime failure (I/O, numerics, a peer rank died)
  kExitUsage = 2,      // bad config or command line: fix the input and rerun
  kExitNonFinite = 3,  // NaN/Inf in the loss or gradients; the last good checkpoint is kept
  kExitRequeue = 75,   // checkpointed on an agreed stop: requeue me (EX_TEMPFAIL)
  kExitForced = 76,    // forced stop (second signal or stop deadline) before a checkpoint;
                       // the previous good checkpoint is intact: requeue me
};

// Training produced NaN/Inf: exit code 3.
class NonFiniteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A user-facing input error (config, command line, data file): exit code 2.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A malformed or unreadable input file (dataset, weights, checkpoint).
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace lorasub
