#include "lorasub/dist/mpi_communicator.h"

#include <unistd.h>

#include <cstdio>
#include <stdexcept>

#include "lorasub/dist/mpi_check.h"

namespace lorasub::dist {

void throw_mpi_error(int code, const char* call, const char* file, int line) {
  char msg[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(code, msg, &len);
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  int rank = -1, initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  throw std::runtime_error(std::string(host) + " rank " + std::to_string(rank) + ": " + call + " failed at " + file +
                           ":" + std::to_string(line) + ": " + std::string(msg, static_cast<size_t>(len)));
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm) : comm_(comm) {
  LORASUB_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  LORASUB_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  LORASUB_MPI_CHECK(MPI_Comm_size(comm_, &size_));
}

void MpiCommunicator::allreduce(void* data, size_t n, MPI_Datatype type, MPI_Op op, const char* what) {
  // MPI counts are int: reduce in chunks so huge buffers stay correct.
  const size_t chunk = size_t{1} << 30;
  int type_size = 0;
  LORASUB_MPI_CHECK(MPI_Type_size(type, &type_size));
  auto* bytes = static_cast<char*>(data);
  for (size_t off = 0; off < n; off += chunk) {
    const int count = static_cast<int>(std::min(chunk, n - off));
    LORASUB_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, bytes + off * type_size, count, type, op, comm_));
  }
  (void)what;
}

void MpiCommunicator::allreduce_sum(float* d, size_t n) { allreduce(d, n, MPI_FLOAT, MPI_SUM, "float"); }
void MpiCommunicator::allreduce_sum(double* d, size_t n) { allreduce(d, n, MPI_DOUBLE, MPI_SUM, "double"); }
void MpiCommunicator::allreduce_sum(int64_t* d, size_t n) { allreduce(d, n, MPI_INT64_T, MPI_SUM, "int64"); }
void MpiCommunicator::allreduce_max(int64_t* d, size_t n) { allreduce(d, n, MPI_INT64_T, MPI_MAX, "int64"); }

void MpiCommunicator::allgatherv(const float* send, size_t count, float* recv, const std::vector<size_t>& counts) {
  if (counts.size() != static_cast<size_t>(size_) || counts.at(rank_) != count)
    throw std::invalid_argument("allgatherv: counts do not match the world");
  std::vector<int> c(size_), displs(size_);
  size_t off = 0;
  for (int r = 0; r < size_; ++r) {
    c[r] = static_cast<int>(counts[r]);
    displs[r] = static_cast<int>(off);
    off += counts[r];
  }
  LORASUB_MPI_CHECK(
      MPI_Allgatherv(send, static_cast<int>(count), MPI_FLOAT, recv, c.data(), displs.data(), MPI_FLOAT, comm_));
}

std::vector<int64_t> MpiCommunicator::allgather(int64_t x) {
  std::vector<int64_t> out(size_);
  LORASUB_MPI_CHECK(MPI_Allgather(&x, 1, MPI_INT64_T, out.data(), 1, MPI_INT64_T, comm_));
  return out;
}

void MpiCommunicator::broadcast(void* data, size_t bytes, int root) {
  LORASUB_MPI_CHECK(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, comm_));
}

void MpiCommunicator::barrier() { LORASUB_MPI_CHECK(MPI_Barrier(comm_)); }

void MpiCommunicator::abort(int exit_code) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(comm_, exit_code);
  std::_Exit(exit_code);  // MPI_Abort should not return; never hang if it does
}

}  // namespace lorasub::dist
