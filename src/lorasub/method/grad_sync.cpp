#include "lorasub/method/grad_sync.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstring>

namespace lorasub::method {
namespace {

std::vector<size_t> sizes_of(const std::vector<at::Tensor>& params) {
  std::vector<size_t> s;
  for (const auto& p : params) s.push_back(static_cast<size_t>(p.numel()));
  return s;
}

}  // namespace

GradSync::GradSync(std::vector<at::Tensor> params)
    : params_(std::move(params)), bucket_(sizes_of(params_), kNumSlots) {}

std::vector<float> GradSync::allreduce(dist::Communicator& comm, const std::vector<float>& control) {
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor g = params_[i].grad();
    float* dst = bucket_.grad(i);
    if (g.defined()) {
      at::Tensor c = g.contiguous();
      std::memcpy(dst, c.data_ptr<float>(), bucket_.grad_size(i) * sizeof(float));
    } else {
      std::memset(dst, 0, bucket_.grad_size(i) * sizeof(float));
    }
  }
  for (size_t s = 0; s < kNumSlots; ++s) bucket_.control(s) = s < control.size() ? control[s] : 0.0f;
  const auto t0 = std::chrono::steady_clock::now();
  if (comm.size() > 1) bucket_.allreduce(comm);
  last_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  finite_ = bucket_.all_finite();
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor summed = at::from_blob(bucket_.grad(i), params_[i].sizes(), at::kFloat);
    at::Tensor g = params_[i].mutable_grad();
    if (g.defined()) g.copy_(summed);
    else params_[i].mutable_grad() = summed.clone();
  }
  std::vector<float> out(kNumSlots);
  for (size_t s = 0; s < kNumSlots; ++s) out[s] = bucket_.control(s);
  return out;
}

}  // namespace lorasub::method
