#include "lorasub/method/tensor_comm.h"

#include <ATen/ATen.h>

#include <stdexcept>

#include "lorasub/model/torch_cuda.h"

namespace lorasub::method {
namespace {

bool direct(const dist::Communicator& comm, const at::Tensor& t) {
  return t.device().is_cpu() || comm.device_buffers();
}

// A collective on device memory queues behind the kernels that wrote it: on torch's
// current stream (see dist/communicator.h for the order).
void on_current_stream(dist::Communicator& comm, const at::Tensor& t) {
  if (!t.device().is_cpu()) comm.use_stream(model::current_cuda_stream(t.device()));
}

void sum_in_place(dist::Communicator& comm, at::Tensor& t) {
  const size_t n = static_cast<size_t>(t.numel());
  switch (t.scalar_type()) {
    case at::kFloat:
      comm.allreduce_sum(t.data_ptr<float>(), n);
      break;
    case at::kDouble:
      comm.allreduce_sum(t.data_ptr<double>(), n);
      break;
    case at::kLong:
      comm.allreduce_sum(t.data_ptr<int64_t>(), n);
      break;
    default:
      throw std::invalid_argument("allreduce_sum: float, double or int64 tensors only");
  }
}

}  // namespace

void broadcast(dist::Communicator& comm, at::Tensor& t, int root) {
  if (!t.is_contiguous()) throw std::invalid_argument("broadcast: tensor must be contiguous");
  const size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
  if (direct(comm, t)) {
    on_current_stream(comm, t);
    return comm.broadcast(t.data_ptr(), bytes, root);
  }
  at::Tensor host = t.to(at::kCPU);
  comm.broadcast(host.data_ptr(), bytes, root);
  t.copy_(host);
}

void allreduce_sum(dist::Communicator& comm, at::Tensor& t) {
  if (!t.is_contiguous()) throw std::invalid_argument("allreduce_sum: tensor must be contiguous");
  if (direct(comm, t)) {
    on_current_stream(comm, t);
    return sum_in_place(comm, t);
  }
  at::Tensor host = t.to(at::kCPU);
  sum_in_place(comm, host);
  t.copy_(host);
}

at::Tensor allgather_rows(dist::Communicator& comm, const at::Tensor& local, const std::vector<int64_t>& rows) {
  if (local.scalar_type() != at::kFloat) throw std::invalid_argument("allgather_rows: float tensors only");
  std::vector<int64_t> shape = local.sizes().vec();
  int64_t per_row = 1;
  for (size_t i = 1; i < shape.size(); ++i) per_row *= shape[i];
  std::vector<size_t> counts;
  int64_t total = 0;
  for (int64_t r : rows) {
    counts.push_back(static_cast<size_t>(r * per_row));
    total += r;
  }
  shape[0] = total;
  const bool on_host = !direct(comm, local);
  at::Tensor send = (on_host ? local.to(at::kCPU) : local).contiguous();
  at::Tensor out = at::empty(shape, send.options());
  if (!on_host) on_current_stream(comm, send);
  comm.allgatherv(send.data_ptr<float>(), static_cast<size_t>(send.numel()), out.data_ptr<float>(), counts);
  return on_host ? out.to(local.device()) : out;
}

}  // namespace lorasub::method
