// CUDA devices and page-locked host memory through the CUDA runtime alone (no torch):
// what the NCCL communicator and the loader's pinned batches need. In a build without
// the CUDA toolkit every function reports that no device is usable.
#pragma once
#include <memory>
#include <string>

#include "lorasub/core/host_memory.h"

namespace lorasub::dist {

// Visible CUDA devices (after CUDA_VISIBLE_DEVICES). 0 when there are none, with *why
// (if given) saying why: no toolkit in this build, no driver, or no device.
int cuda_device_count(std::string* why = nullptr);
// Makes `index` the calling thread's current device; throws with the runtime's message.
void cuda_set_device(int index);
// "CUDA_VISIBLE_DEVICES=<value>" or "CUDA_VISIBLE_DEVICES unset", for messages.
std::string cuda_visible_devices_text();

// Bytes of device memory in use on `device` (total - free; includes what allocators
// keep cached, so after a run it is close to the peak they reserved). 0 without CUDA.
size_t cuda_memory_used(int device);

// Page-locked host memory for batches on device `device`, reused without
// reallocating: a freed block is handed out again only after the GPU work queued
// before its release (its copy to the device) has completed, so an asynchronous copy
// never reads memory a loader thread is already refilling. Thread-safe.
// Throws std::runtime_error where CUDA is not available.
std::unique_ptr<HostMemory> make_pinned_memory(int device);

}  // namespace lorasub::dist
