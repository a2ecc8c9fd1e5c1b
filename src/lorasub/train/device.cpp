#include "lorasub/train/device.h"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include "lorasub/core/error.h"
#include "lorasub/dist/cuda_device.h"

#if LORASUB_TORCH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace lorasub::train {
namespace {

// Why no CUDA device can be used, or "" when one can; *count: the visible devices.
std::string cuda_unusable(int* count) {
  *count = 0;
#if LORASUB_TORCH_CUDA
  *count = static_cast<int>(at::detail::getCUDAHooks().getNumGPUs());
  if (*count > 0) return "";
  std::string why;
  dist::cuda_device_count(&why);
  return why.empty() || why.find("without the CUDA toolkit") != std::string::npos
             ? "no CUDA device visible (" + dist::cuda_visible_devices_text() + ")"
             : why;
#else
  return "this lorasub was built against a CPU-only LibTorch (rebuild against a CUDA LibTorch 2.x "
         "to train on GPUs)";
#endif
}

}  // namespace

TrainDevice resolve_device(const Config& cfg, const dist::World& world) {
  TrainDevice d;
  const std::string& want = cfg.train.device;
  if (want == "cpu") {
    d.spec.why_not_cuda = "train.device is cpu";
    d.description = "cpu";
    return d;
  }
  int count = 0;
  const std::string why = cuda_unusable(&count);
  if (!why.empty()) {
    if (want == "cuda") throw ConfigError("train.device cuda: " + why + "; use train.device cpu or auto");
    d.spec.why_not_cuda = why;
    d.description = "cpu (" + why + ")";
    return d;
  }
  // One visible device per rank (bind-gpu.sh) or all of them: pick by local rank.
  int index = 0;
  if (count > 1) {
    if (world.local_rank >= count)
      throw ConfigError("local rank " + std::to_string(world.local_rank) + " on " + world.host + " has no GPU: only " +
                        std::to_string(count) + " CUDA devices are visible (" + dist::cuda_visible_devices_text() +
                        "); run at most " + std::to_string(count) +
                        " ranks per node, or bind one GPU per rank with "
                        "launch/bind-gpu.sh");
    index = world.local_rank;
  }
  d.device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  d.spec.cuda = true;
  d.spec.index = index;
  d.description = "cuda:" + std::to_string(index) + " (" + std::to_string(count) + " visible, " +
                  dist::cuda_visible_devices_text() + ")";
  return d;
}

void activate_device(const TrainDevice& d, const Config& cfg) {
  if (!d.spec.cuda) return;
#if LORASUB_TORCH_CUDA
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(d.spec.index));
#endif
  at::globalContext().setAllowTF32CuBLAS(cfg.train.tf32);
  at::globalContext().setAllowTF32CuDNN(cfg.train.tf32);
}

}  // namespace lorasub::train
