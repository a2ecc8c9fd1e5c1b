// Collectives on tensors that may live on a GPU, for any Communicator: in place where
// the communicator takes the tensor's memory (host memory always, device memory where
// comm.device_buffers()), otherwise through a host copy. Tensors must be contiguous.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "lorasub/dist/communicator.h"

namespace lorasub::method {

// Sums `t` (float, double or int64) across ranks, in place.
void allreduce_sum(dist::Communicator& comm, at::Tensor& t);
// Rank root's bytes of `t` on every rank, in place (any dtype).
void broadcast(dist::Communicator& comm, at::Tensor& t, int root);
// Every rank's `local` (rows x ... floats) stacked in rank order; rows[r] is rank r's
// row count. The result lives where `local` does.
at::Tensor allgather_rows(dist::Communicator& comm, const at::Tensor& local, const std::vector<int64_t>& rows);

}  // namespace lorasub::method
