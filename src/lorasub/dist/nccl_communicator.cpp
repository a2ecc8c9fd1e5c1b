#include "lorasub/dist/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "lorasub/dist/mpi_check.h"

namespace lorasub::dist {
namespace {

using Clock = std::chrono::steady_clock;

ncclComm_t as_nccl(void* comm) { return static_cast<ncclComm_t>(comm); }
cudaStream_t as_cuda(void* stream) { return static_cast<cudaStream_t>(stream); }

std::string where(int rank, const char* file, int line) {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return std::string(host) + " rank " + std::to_string(rank) + " (pid " + std::to_string(getpid()) + ") at " + file +
         ":" + std::to_string(line);
}

}  // namespace

// Throws with host, rank, file:line and NCCL's own words (ncclInProgress is not an error
// for a non-blocking communicator: ready() waits it out).
#define LORASUB_NCCL_CHECK(call)                                                                                      \
  do {                                                                                                                \
    ncclResult_t lorasub_nccl_rc_ = (call);                                                                           \
    if (lorasub_nccl_rc_ != ncclSuccess && lorasub_nccl_rc_ != ncclInProgress)                                        \
      throw std::runtime_error(where(rank(), __FILE__, __LINE__) + ": " + #call + ": " +                              \
                               ncclGetErrorString(lorasub_nccl_rc_) +                                                 \
                               (comm_ ? std::string(" (") + ncclGetLastError(as_nccl(comm_)) + ")" : std::string())); \
  } while (0)
#define LORASUB_CUDA_CHECK(call)                                                         \
  do {                                                                                   \
    cudaError_t lorasub_cuda_rc_ = (call);                                               \
    if (lorasub_cuda_rc_ != cudaSuccess)                                                 \
      throw std::runtime_error(where(rank(), __FILE__, __LINE__) + ": " + #call + ": " + \
                               cudaGetErrorString(lorasub_cuda_rc_));                    \
  } while (0)

NcclCommunicator::NcclCommunicator(MPI_Comm mpi_comm, int device, double timeout_seconds)
    : control_(mpi_comm), device_(device), timeout_(timeout_seconds) {
  LORASUB_CUDA_CHECK(cudaSetDevice(device_));
  ncclUniqueId id;
  if (rank() == 0) LORASUB_NCCL_CHECK(ncclGetUniqueId(&id));
  control_.broadcast(&id, sizeof(id), 0);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // every wait is ours, with a deadline
  ncclComm_t created = nullptr;
  LORASUB_NCCL_CHECK(ncclCommInitRankConfig(&created, size(), id, rank(), &config));
  comm_ = created;
  ready("ncclCommInitRankConfig");
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ == nullptr) return;
  // Finalize flushes outstanding work; a peer that never answers must not hang the exit.
  ncclResult_t state = ncclCommFinalize(as_nccl(comm_));
  const auto t0 = Clock::now();
  while (state == ncclInProgress || state == ncclSuccess) {
    if (ncclCommGetAsyncError(as_nccl(comm_), &state) != ncclSuccess) break;
    if (state != ncclInProgress) break;
    if (std::chrono::duration<double>(Clock::now() - t0).count() > timeout_) break;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  if (state == ncclSuccess)
    ncclCommDestroy(as_nccl(comm_));
  else
    ncclCommAbort(as_nccl(comm_));
}

void NcclCommunicator::fail(const std::string& what) {
  std::fprintf(stderr, "lorasub: %s: %s; aborting the NCCL communicator and the job\n",
               where(rank(), __FILE__, __LINE__).c_str(), what.c_str());
  std::fflush(stderr);
  if (comm_ != nullptr) ncclCommAbort(as_nccl(comm_));
  comm_ = nullptr;
  control_.abort(1);
}

void NcclCommunicator::ready(const char* what) {
  const auto t0 = Clock::now();
  for (;;) {
    ncclResult_t state = ncclSuccess;
    const ncclResult_t rc = ncclCommGetAsyncError(as_nccl(comm_), &state);
    if (rc != ncclSuccess) fail(std::string(what) + ": ncclCommGetAsyncError: " + ncclGetErrorString(rc));
    if (state == ncclSuccess) return;
    if (state != ncclInProgress)
      fail(std::string(what) + ": " + ncclGetErrorString(state) + " (" + ncclGetLastError(as_nccl(comm_)) + ")");
    if (std::chrono::duration<double>(Clock::now() - t0).count() > timeout_)
      fail(std::string(what) + " still in progress after " + std::to_string(timeout_) +
           " s (dist.timeout_seconds): a peer is dead or hung");
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void NcclCommunicator::wait() {
  const auto t0 = Clock::now();
  for (;;) {
    const cudaError_t queued = cudaStreamQuery(as_cuda(stream_));
    if (queued == cudaSuccess) return;
    if (queued != cudaErrorNotReady) fail(std::string("cudaStreamQuery: ") + cudaGetErrorString(queued));
    ncclResult_t state = ncclSuccess;
    ncclCommGetAsyncError(as_nccl(comm_), &state);
    if (state != ncclSuccess && state != ncclInProgress)
      fail(std::string("asynchronous NCCL error: ") + ncclGetErrorString(state) + " (" +
           ncclGetLastError(as_nccl(comm_)) + ")");
    if (std::chrono::duration<double>(Clock::now() - t0).count() > timeout_)
      fail("a collective has not completed after " + std::to_string(timeout_) +
           " s (dist.timeout_seconds): a peer is dead or hung");
    std::this_thread::yield();
  }
}

bool NcclCommunicator::on_device(const void* ptr) const {
  if (ptr == nullptr) return false;
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    cudaGetLastError();  // plain host memory on older runtimes
    return false;
  }
  return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
}

void NcclCommunicator::reduce(void* data, size_t count, int type, int op, const char* what) {
  LORASUB_NCCL_CHECK(ncclAllReduce(data, data, count, static_cast<ncclDataType_t>(type), static_cast<ncclRedOp_t>(op),
                                   as_nccl(comm_), as_cuda(stream_)));
  ready(what);
}

void NcclCommunicator::allreduce_sum(float* data, size_t count) {
  if (!on_device(data)) return control_.allreduce_sum(data, count);
  reduce(data, count, ncclFloat32, ncclSum, "ncclAllReduce(float, sum)");
}
void NcclCommunicator::allreduce_sum(double* data, size_t count) {
  if (!on_device(data)) return control_.allreduce_sum(data, count);
  reduce(data, count, ncclFloat64, ncclSum, "ncclAllReduce(double, sum)");
}
void NcclCommunicator::allreduce_sum(int64_t* data, size_t count) {
  if (!on_device(data)) return control_.allreduce_sum(data, count);
  reduce(data, count, ncclInt64, ncclSum, "ncclAllReduce(int64, sum)");
}
void NcclCommunicator::allreduce_max(int64_t* data, size_t count) {
  if (!on_device(data)) return control_.allreduce_max(data, count);
  reduce(data, count, ncclInt64, ncclMax, "ncclAllReduce(int64, max)");
}

void NcclCommunicator::allgatherv(const float* send, size_t count, float* recv, const std::vector<size_t>& counts) {
  if (!on_device(recv)) return control_.allgatherv(send, count, recv, counts);
  if (counts.size() != static_cast<size_t>(size()) || counts.at(static_cast<size_t>(rank())) != count)
    throw std::invalid_argument("allgatherv: counts do not match the world");
  // NCCL has no all-gather-v: one broadcast per rank into its slice, fused in a group.
  LORASUB_NCCL_CHECK(ncclGroupStart());
  size_t offset = 0;
  for (int root = 0; root < size(); ++root) {
    const size_t root_count = counts[static_cast<size_t>(root)];
    if (root_count > 0)
      LORASUB_NCCL_CHECK(ncclBroadcast(root == rank() ? static_cast<const void*>(send) : recv + offset, recv + offset,
                                       root_count, ncclFloat32, root, as_nccl(comm_), as_cuda(stream_)));
    offset += root_count;
  }
  LORASUB_NCCL_CHECK(ncclGroupEnd());
  ready("ncclBroadcast group (all-gather-v)");
}

std::vector<int64_t> NcclCommunicator::allgather(int64_t x) { return control_.allgather(x); }

void NcclCommunicator::broadcast(void* data, size_t bytes, int root) {
  if (!on_device(data)) return control_.broadcast(data, bytes, root);
  LORASUB_NCCL_CHECK(ncclBroadcast(data, data, bytes, ncclUint8, root, as_nccl(comm_), as_cuda(stream_)));
  ready("ncclBroadcast");
}

void NcclCommunicator::barrier() {
  wait();
  control_.barrier();
}

void NcclCommunicator::abort(int exit_code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (comm_ != nullptr) ncclCommAbort(as_nccl(comm_));
  comm_ = nullptr;
  control_.abort(exit_code);
}

}  // namespace lorasub::dist
