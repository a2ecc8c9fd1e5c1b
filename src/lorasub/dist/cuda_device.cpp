#include "lorasub/dist/cuda_device.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

#if LORASUB_HAVE_NCCL
#include <cuda_runtime.h>
#endif

namespace lorasub::dist {

std::string cuda_visible_devices_text() {
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  return v == nullptr ? std::string("CUDA_VISIBLE_DEVICES unset") : "CUDA_VISIBLE_DEVICES=" + std::string(v);
}

#if LORASUB_HAVE_NCCL

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

class PinnedPool final : public HostMemory {
 public:
  PinnedPool(int device, StreamSource copies) : device_(device), copies_(std::move(copies)) {}
  bool page_locked() const override { return true; }
  ~PinnedPool() override {
    std::lock_guard<std::mutex> lock(mu_);
    cudaSetDevice(device_);
    for (Block& b : free_) {
      cudaEventSynchronize(b.done);
      cudaEventDestroy(b.done);
      cudaFreeHost(b.ptr);
    }
  }
  void* allocate(size_t bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    check(cudaSetDevice(device_), "cudaSetDevice");  // never create a context on device 0
    for (size_t i = 0; i < free_.size(); ++i) {
      if (free_[i].bytes != bytes) continue;
      const cudaError_t q = cudaEventQuery(free_[i].done);
      if (q == cudaErrorNotReady) continue;
      check(q, "cudaEventQuery");
      Block b = free_[i];
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
      used_.emplace(b.ptr, b);
      return b.ptr;
    }
    Block b{nullptr, bytes, nullptr};
    if (cudaHostAlloc(&b.ptr, bytes, cudaHostAllocPortable) != cudaSuccess) {
      cudaGetLastError();
      throw std::bad_alloc();
    }
    check(cudaEventCreateWithFlags(&b.done, cudaEventDisableTiming), "cudaEventCreate");
    used_.emplace(b.ptr, b);
    return b.ptr;
  }
  void deallocate(void* p, size_t) noexcept override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = used_.find(p);
    if (it == used_.end()) return;
    Block b = it->second;
    used_.erase(it);
    cudaSetDevice(device_);
    // Complete once the work queued so far on the copies' stream is done; until then
    // the block is not handed out again.
    cudaStream_t stream = copies_ ? static_cast<cudaStream_t>(copies_()) : nullptr;
    if (cudaEventRecord(b.done, stream) != cudaSuccess) {
      cudaGetLastError();
      cudaDeviceSynchronize();
    }
    free_.push_back(b);
  }

 private:
  struct Block {
    void* ptr;
    size_t bytes;
    cudaEvent_t done;
  };
  int device_;
  StreamSource copies_;
  std::mutex mu_;
  std::vector<Block> free_;
  std::unordered_map<void*, Block> used_;
};

}  // namespace

int cuda_device_count(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why)
      *why = std::string("no CUDA device visible (") + cuda_visible_devices_text() +
             "; the CUDA runtime says: " + cudaGetErrorString(e) + ")";
    return 0;
  }
  if (n == 0 && why) *why = "no CUDA device visible (" + cuda_visible_devices_text() + ")";
  return n;
}

void cuda_set_device(int index) { check(cudaSetDevice(index), "cudaSetDevice"); }

std::string cuda_pci_bus_id(int index) {
  char id[32] = {0};
  check(cudaDeviceGetPCIBusId(id, sizeof(id) - 1, index), "cudaDeviceGetPCIBusId");
  return id;
}

size_t cuda_memory_used(int device) {
  size_t free_b = 0, total_b = 0;
  if (cudaSetDevice(device) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return total_b - free_b;
}

std::unique_ptr<HostMemory> make_pinned_memory(int device, StreamSource copies) {
  return std::make_unique<PinnedPool>(device, std::move(copies));
}

#else  // built without the CUDA toolkit

int cuda_device_count(std::string* why) {
  if (why) *why = "this lorasub was built without the CUDA toolkit (LORASUB_CUDA=OFF or not found)";
  return 0;
}

void cuda_set_device(int) { throw std::runtime_error("this lorasub was built without the CUDA toolkit"); }

std::string cuda_pci_bus_id(int) { throw std::runtime_error("this lorasub was built without the CUDA toolkit"); }

size_t cuda_memory_used(int) { return 0; }

std::unique_ptr<HostMemory> make_pinned_memory(int, StreamSource) {
  throw std::runtime_error("pinned memory needs a build with the CUDA toolkit");
}

#endif

}  // namespace lorasub::dist
