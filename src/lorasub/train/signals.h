// The agreed stop (ARCHITECTURE invariant 6). SIGUSR1, SIGTERM and SIGINT set a flag
// that the trainer carries in the next gradient all-reduce, so every rank stops at the
// same step; rank 0 checkpoints and all exit with kExitRequeue (75).
// A second SIGTERM/SIGINT, or the stop deadline passing, exits at once with
// kExitForced (76): checkpoints are written under a temporary name and renamed, so the
// last good one is intact whatever the moment.
#pragma once

namespace lorasub::train {

// Installs the handlers and starts the deadline watchdog (deadline_seconds <= 0: none),
// once per process, as early as possible (a stop may come while MPI and the data load).
// A second call is a logic_error.
void install_stop_handlers(double deadline_seconds);
// The stop deadline once the config is known (ckpt.stop_deadline_seconds).
void set_stop_deadline(double deadline_seconds);
// From now on the first stop signal is announced on stderr as it arrives (the trainer
// calls it as training begins; before, a signal is recorded silently and reported when
// the agreed stop happens).
void announce_stops();
// True once a stop signal arrived on this rank.
bool stop_requested();
// The signal that asked for the stop (0 if none).
int stop_signal();
// For tests: behave as if `sig` had arrived.
void request_stop(int sig);

// Thrown on every rank once the agreed stop is done (checkpoint written on rank 0).
struct StopRequested {
  long long global_step = 0;
};

}  // namespace lorasub::train
