// train.device resolved for this rank: the CPU, or one CUDA device chosen by local rank
// among the visible ones (launch/bind-gpu.sh leaves exactly one visible per rank).
#pragma once
#include <c10/core/Device.h>

#include <string>

#include "lorasub/core/config.h"
#include "lorasub/dist/world.h"

namespace lorasub::train {

struct TrainDevice {
  c10::Device device{c10::kCPU};
  dist::DeviceSpec spec;    // the same choice, for dist (torch-free)
  std::string description;  // "cpu (...)" or "cuda:0 (N visible)", for the start-up line
};

// auto: cuda when LibTorch has CUDA and a device is visible, else cpu (the reason kept in
// spec.why_not_cuda). cuda: a ConfigError naming the cause when no device can be used.
TrainDevice resolve_device(const Config& cfg, const dist::World& world);

// Makes the device this thread's current one and applies train.tf32 (CUDA only; TF32
// stays off unless asked for: fp32 matmuls then match the CPU to float rounding).
void activate_device(const TrainDevice& d, const Config& cfg);

}  // namespace lorasub::train
