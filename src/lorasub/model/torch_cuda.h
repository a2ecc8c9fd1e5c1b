// Torch's CUDA state as plain values: the current stream as an opaque handle, for the
// torch-free modules (dist/: the NCCL communicator and the pinned batch memory) that
// queue work behind torch's, and the caching allocator's peak, for the benchmarks.
// Without a CUDA LibTorch there is no CUDA device, and these answer for the CPU.
#pragma once
#include <c10/core/Device.h>

#include <cstddef>

namespace lorasub::model {

// The cudaStream_t of torch's current stream on `device`; nullptr (the legacy default
// stream) for a CPU device or a LibTorch without CUDA.
void* current_cuda_stream(const c10::Device& device);

// Peak bytes held by tensors on `device` since the last reset (the caching allocator's
// count; the memory it keeps cached is not included). 0 for the CPU.
size_t cuda_peak_allocated_bytes(const c10::Device& device);
void reset_cuda_peak(const c10::Device& device);

}  // namespace lorasub::model
