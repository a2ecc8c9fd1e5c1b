// bf16 autocast for the ViT forward (and, through autograd, its backward) on the CPU or
// a CUDA device, as an RAII scope: matmuls, convolutions and attention run in bf16,
// numerically sensitive ops (softmax, norms, losses) in fp32. Parameters, their
// gradients and everything the optimizer holds stay fp32. A disabled scope does nothing.
#pragma once
#include <c10/core/DeviceType.h>

namespace lorasub::model {

class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device, bool enabled);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_;
  bool enabled_;
  bool was_enabled_ = false;
};

}  // namespace lorasub::model
