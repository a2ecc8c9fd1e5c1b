// Communicator over NCCL for CUDA device buffers, with MPI as the control plane (the
// llm.c zero.cuh shape: NCCL set-up, the collectives and their ordering in one place).
//  - Created from an ncclUniqueId that rank 0 makes and broadcasts over MPI; the NCCL
//    communicator is non-blocking, so no NCCL call can hang the process: every wait
//    polls ncclCommGetAsyncError against a deadline.
//  - Device buffers: the collective is queued on the stream given to use_stream()
//    (torch's current stream: see Communicator for the order against compute), so it
//    runs after the compute that produced the buffer and before what reads it. wait()
//    blocks until that stream's work is done, polling for NCCL errors. Host buffers:
//    MPI, blocking.
//  - A failing or dead peer (an asynchronous NCCL error) or a collective that has not
//    finished by the deadline: ncclCommAbort, then MPI_Abort of the whole job.
// Built only when CMake finds the CUDA toolkit and NCCL (LORASUB_HAVE_NCCL).
#pragma once
#include <mpi.h>

#include "lorasub/dist/communicator.h"
#include "lorasub/dist/mpi_communicator.h"

namespace lorasub::dist {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `mpi_comm`; makes `device` this thread's current CUDA device.
  NcclCommunicator(MPI_Comm mpi_comm, int device, double timeout_seconds);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return control_.rank(); }
  int size() const override { return control_.size(); }
  std::string name() const override { return "nccl"; }
  bool device_buffers() const override { return true; }
  void wait() override;

  void allreduce_sum(float* data, size_t n) override;
  void allreduce_sum(double* data, size_t n) override;
  void allreduce_sum(int64_t* data, size_t n) override;
  void allreduce_max(int64_t* data, size_t n) override;
  void allgatherv(const float* send, size_t count, float* recv, const std::vector<size_t>& counts) override;
  std::vector<int64_t> allgather(int64_t x) override;
  void broadcast(void* data, size_t bytes, int root) override;
  void barrier() override;
  [[noreturn]] void abort(int exit_code) override;

  void use_stream(void* stream) override { stream_ = stream; }
  int device() const { return device_; }

 private:
  bool on_device(const void* p) const;
  void reduce(void* data, size_t n, int type, int op, const char* what);
  // Polls until the last NCCL call is enqueued (non-blocking communicator).
  void ready(const char* what);
  [[noreturn]] void fail(const std::string& what);

  MpiCommunicator control_;
  void* comm_ = nullptr;    // ncclComm_t
  void* stream_ = nullptr;  // cudaStream_t
  int device_ = 0;
  double timeout_ = 600;
};

}  // namespace lorasub::dist
