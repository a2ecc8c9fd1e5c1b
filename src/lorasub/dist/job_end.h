// How a rank that has failed ends the job: together with the others where they failed
// too, by bringing the job down where they did not.
#pragma once
#include <string>

#include "lorasub/dist/world.h"

namespace lorasub::dist {

// Ends the job after an error on this rank; never returns.
//
// Bad input is usually seen by every rank (the same config, the same files). When every
// rank comes here within `grace_seconds`, they agree: rank 0 prints its message once
// (and so does a rank whose message differs other than in the rank numbers it names),
// every rank exits with rank 0's
// exit_code after MPI_Finalize, and nothing else is printed: no MPI_Abort, no stop
// message from a peer. When some rank does not come (it is fine, or stuck in a
// collective), this rank prints its message and aborts the job (MPI_Abort), so no rank
// waits forever on a dead peer. Stop signals are ignored from here on: the job is
// ending already, and a launcher's TERM to the last ranks must not read as a new stop.
// Each message goes to stderr in one write(2), so other processes' output never
// splits it.
[[noreturn]] void end_job(const World& world, const std::string& what, int exit_code, double grace_seconds = 5.0);

// Writes `line` (a newline is added) to stderr in one write(2) call.
void write_stderr_line(const std::string& line);

namespace detail {
// The communicator end_job agrees on: a duplicate of MPI_COMM_WORLD made at start-up
// (MpiRuntime), so that its barrier never matches a collective the other ranks are in.
void set_job_end_comm(void* mpi_comm);
}  // namespace detail

}  // namespace lorasub::dist
