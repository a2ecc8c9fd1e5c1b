// CUDA devices and page-locked host memory through the CUDA runtime alone (no torch):
// what the NCCL communicator and the loader's pinned batches need. In a build without
// the CUDA toolkit every function reports that no device is usable.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "lorasub/core/host_memory.h"

namespace lorasub::dist {

// Visible CUDA devices (after CUDA_VISIBLE_DEVICES). 0 when there are none, with *why
// (if given) saying why: no toolkit in this build, no driver, or no device.
int cuda_device_count(std::string* why = nullptr);
// The PCI bus id of visible device `index` ("0000:3b:00.0"): which physical GPU it is,
// whatever CUDA_VISIBLE_DEVICES calls it. Throws with the runtime's message.
std::string cuda_pci_bus_id(int index);
// Makes `index` the calling thread's current device; throws with the runtime's message.
void cuda_set_device(int index);
// "CUDA_VISIBLE_DEVICES=<value>" or "CUDA_VISIBLE_DEVICES unset", for messages.
std::string cuda_visible_devices_text();

// Bytes of device memory in use on `device` (total - free; includes what allocators
// keep cached, so after a run it is close to the peak they reserved). 0 without CUDA.
size_t cuda_memory_used(int device);

// The CUDA stream (an opaque cudaStream_t) that the caller's copies are queued on now:
// torch's current stream, which only a torch-aware caller knows.
using StreamSource = std::function<void*()>;

// Page-locked host memory for batches on device `device`, reused without
// reallocating: a freed block is handed out again only after the GPU work queued
// before its release on `copies` (the stream its copy to the device went on) has
// completed, so an asynchronous copy never reads memory a loader thread is already
// refilling. page_locked() is true. Thread-safe.
// Throws std::runtime_error where CUDA is not available.
std::unique_ptr<HostMemory> make_pinned_memory(int device, StreamSource copies);

}  // namespace lorasub::dist
