// LORASUB_MPI_CHECK(call): throws std::runtime_error with host, rank, file:line and
// MPI's own message when an MPI call fails (MPI_ERRORS_RETURN is set on the comms).
#pragma once
#include <mpi.h>
#include <string>

namespace lorasub::dist {
[[noreturn]] void throw_mpi_error(int code, const char* call, const char* file, int line);
}

#define LORASUB_MPI_CHECK(call)                                                                                       \
  do {                                                                                                                \
    int lorasub_mpi_rc_ = (call);                                                                                     \
    if (lorasub_mpi_rc_ != MPI_SUCCESS) ::lorasub::dist::throw_mpi_error(lorasub_mpi_rc_, #call, __FILE__, __LINE__); \
  } while (0)
