// Checks that only rank 0 makes (taking the run directory, an output path), with their
// verdict shared: bad input that rank 0 finds is thrown on every rank, so that all of
// them end the job together (dist::end_job: one message, exit 2, no abort) instead of
// the others waiting in a collective until rank 0 aborts the job.
#pragma once
#include <functional>

#include "lorasub/dist/communicator.h"

namespace lorasub::train {

// Collective. Runs `check` on rank 0; what it throws (ConfigError, FormatError or
// another std::exception) is thrown on every rank with the same message.
void checked_on_root(dist::Communicator& comm, const std::function<void()>& check);

}  // namespace lorasub::train
