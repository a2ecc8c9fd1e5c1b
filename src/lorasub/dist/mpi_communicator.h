// Communicator over an MPI communicator (CPU buffers).
#pragma once
#include <mpi.h>
#include "lorasub/dist/communicator.h"

namespace lorasub::dist {

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm comm);
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }
  void allreduce_sum(float* data, size_t n) override;
  void allreduce_sum(double* data, size_t n) override;
  void allreduce_sum(int64_t* data, size_t n) override;
  void allreduce_max(int64_t* data, size_t n) override;
  void allgatherv(const float* send, size_t count, float* recv, const std::vector<size_t>& counts) override;
  std::vector<int64_t> allgather(int64_t x) override;
  void broadcast(void* data, size_t bytes, int root) override;
  void barrier() override;
  [[noreturn]] void abort(int exit_code) override;

 private:
  void allreduce(void* data, size_t n, MPI_Datatype type, MPI_Op op, const char* what);
  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace lorasub::dist
