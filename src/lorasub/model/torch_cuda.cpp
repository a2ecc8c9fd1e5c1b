#include "lorasub/model/torch_cuda.h"

#if LORASUB_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace lorasub::model {

void* current_cuda_stream(const c10::Device& device) {
#if LORASUB_TORCH_CUDA
  if (device.is_cuda()) return c10::cuda::getCurrentCUDAStream(device.index()).stream();
#endif
  (void)device;
  return nullptr;
}

size_t cuda_peak_allocated_bytes(const c10::Device& device) {
#if LORASUB_TORCH_CUDA
  if (device.is_cuda()) {
    // Index 0 is StatType::AGGREGATE (all pools), whichever namespace this LibTorch keeps
    // the type in (c10::cuda::CUDACachingAllocator up to 2.4, c10::CachingDeviceAllocator after).
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return static_cast<size_t>(stats.allocated_bytes[0].peak);
  }
#endif
  (void)device;
  return 0;
}

void reset_cuda_peak(const c10::Device& device) {
#if LORASUB_TORCH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#endif
  (void)device;
}

}  // namespace lorasub::model
