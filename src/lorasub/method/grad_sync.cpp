#include "lorasub/method/grad_sync.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <chrono>
#include <stdexcept>

#include "lorasub/method/tensor_comm.h"

namespace lorasub::method {
namespace {

std::vector<size_t> sizes_of(const std::vector<at::Tensor>& params) {
  std::vector<size_t> s;
  for (const auto& p : params) s.push_back(static_cast<size_t>(p.numel()));
  return s;
}

}  // namespace

GradSync::GradSync(std::vector<at::Tensor> params) : params_(std::move(params)), layout_(sizes_of(params_), kNumSlots) {
  const at::Device device = params_.empty() ? at::Device(at::kCPU) : params_.front().device();
  buffer_ = at::zeros({static_cast<int64_t>(layout_.elements())}, at::TensorOptions(at::kFloat).device(device));
  for (size_t i = 0; i < params_.size(); ++i) {
    if (params_[i].device() != device || params_[i].scalar_type() != at::kFloat)
      throw std::invalid_argument("GradSync: parameters must be float32 on one device");
    params_[i].mutable_grad() =
        buffer_.narrow(0, static_cast<int64_t>(layout_.offset(i)), static_cast<int64_t>(layout_.grad_size(i)))
            .view(params_[i].sizes());
  }
}

GradSync::~GradSync() {
  for (auto& p : params_) p.mutable_grad() = at::Tensor();
}

void GradSync::zero() { buffer_.zero_(); }

std::vector<float> GradSync::allreduce(dist::Communicator& comm, const std::vector<at::Tensor>& control) {
  at::NoGradGuard no_grad;
  const auto slots = buffer_.narrow(0, static_cast<int64_t>(layout_.control_offset(0)), kNumSlots);
  for (size_t s = 0; s < kNumSlots; ++s) {
    at::Tensor slot = slots.narrow(0, static_cast<int64_t>(s), 1);
    if (s >= control.size() || !control[s].defined())
      slot.zero_();
    else if (control[s].device() == slot.device())
      slot.copy_(control[s].detach().reshape({1}));
    else
      slot.fill_(control[s].item());  // a host scalar (the stop flag): no copy from pageable memory
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (comm.size() > 1) allreduce_sum(comm, buffer_);
  // One read back to the host: the summed slots and whether everything is finite.
  at::Tensor finite = at::isfinite(buffer_).all().to(at::kFloat).reshape({1});
  comm.wait();
  at::Tensor host = at::cat({slots, finite}).to(at::kCPU);
  last_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const float* h = host.data_ptr<float>();
  finite_ = h[kNumSlots] != 0.0f;
  return std::vector<float>(h, h + kNumSlots);
}

}  // namespace lorasub::method
