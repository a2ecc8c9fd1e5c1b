// The collective operations the training loop needs, over raw buffers. The trainer and
// the learner only see this interface; MPI and NCCL live behind it. All calls are
// collective: every rank must make them in the same order.
//
// Memory: every communicator takes host buffers. One whose device_buffers() is true
// (NCCL) also takes CUDA device buffers: those collectives are queued on the stream last
// given to use_stream() and complete asynchronously (wait() blocks until they have);
// host ones go over MPI, the control plane, and are complete on return. A communicator
// whose device_buffers() is false must never see a device pointer: callers stage such
// buffers through the host.
//
// Order against compute: a device collective is queued on the caller's stream (torch's
// current stream, passed by method/tensor_comm before each one), so it starts after every
// kernel queued on that stream before the call (the backward that wrote the gradients)
// and finishes before any kernel queued after it (the optimizer step that reads them).
// The host never waits for it except in wait().
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lorasub::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;
  // Whether CUDA device buffers may be passed (see above).
  virtual bool device_buffers() const { return false; }
  // Blocks until every collective issued so far has completed (a no-op where all
  // collectives are blocking). A collective that does not complete within the
  // communicator's deadline, or fails asynchronously, brings the whole job down.
  virtual void wait() {}
  // The CUDA stream (an opaque cudaStream_t; nullptr: the legacy default stream) that
  // device-buffer collectives issued from now on are queued on, and that wait() waits
  // for. dist/ knows no torch: the caller passes torch's current stream. A no-op for
  // communicators that take no device buffers.
  virtual void use_stream(void* stream) { (void)stream; }

  // In-place sums across ranks; every rank receives the same result.
  virtual void allreduce_sum(float* data, size_t n) = 0;
  virtual void allreduce_sum(double* data, size_t n) = 0;
  virtual void allreduce_sum(int64_t* data, size_t n) = 0;
  // Maximum across ranks (stop flags, error flags).
  virtual void allreduce_max(int64_t* data, size_t n) = 0;
  // Gathers `count` floats from every rank into recv, rank-major; counts[r] is rank r's.
  virtual void allgatherv(const float* send, size_t count, float* recv, const std::vector<size_t>& counts) = 0;
  // Every rank's value of `x`, in rank order.
  virtual std::vector<int64_t> allgather(int64_t x) = 0;
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Brings every rank of the job down now (a failed rank must never hang the others).
  [[noreturn]] virtual void abort(int exit_code) = 0;
};

// World size 1: every collective is the identity.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "local"; }
  void allreduce_sum(float*, size_t) override {}
  void allreduce_sum(double*, size_t) override {}
  void allreduce_sum(int64_t*, size_t) override {}
  void allreduce_max(int64_t*, size_t) override {}
  void allgatherv(const float* send, size_t count, float* recv, const std::vector<size_t>& counts) override;
  std::vector<int64_t> allgather(int64_t x) override { return {x}; }
  void broadcast(void*, size_t, int) override {}
  void barrier() override {}
  [[noreturn]] void abort(int exit_code) override;
};

// Every rank's string, in rank order (a collective: every rank calls it). Built on the
// float all-gather: each byte travels as one exactly representable float.
std::vector<std::string> allgather_strings(Communicator& comm, const std::string& s);

}  // namespace lorasub::dist
