// Where host buffers that feed the accelerator live. By default plain heap memory; on
// CUDA the trainer supplies page-locked (pinned) memory so that a batch's copy to the
// device runs asynchronously, overlapped with compute. Torch- and CUDA-free: the loader
// only sees this interface.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace lorasub {

class HostMemory {
 public:
  virtual ~HostMemory() = default;
  // Thread-safe; throws std::bad_alloc (or a subclass) when out of memory.
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p, size_t bytes) noexcept = 0;
  // Page-locked (pinned): only such memory may be the source of a non-blocking copy
  // to a device.
  virtual bool page_locked() const { return false; }
};

// A std::allocator that draws from a HostMemory (nullptr: the ordinary heap). The
// HostMemory must outlive every container that uses it.
template <class T>
struct HostAllocator {
  using value_type = T;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  HostMemory* memory = nullptr;

  HostAllocator() = default;
  explicit HostAllocator(HostMemory* m) : memory(m) {}
  template <class U>
  HostAllocator(const HostAllocator<U>& o) : memory(o.memory) {}  // NOLINT: rebinding
  T* allocate(size_t n) {
    if (memory == nullptr) return std::allocator<T>().allocate(n);
    return static_cast<T*>(memory->allocate(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept {
    if (memory == nullptr)
      std::allocator<T>().deallocate(p, n);
    else
      memory->deallocate(p, n * sizeof(T));
  }
  template <class U>
  bool operator==(const HostAllocator<U>& o) const {
    return memory == o.memory;
  }
  template <class U>
  bool operator!=(const HostAllocator<U>& o) const {
    return memory != o.memory;
  }
};

// Pixels of a batch (floats, NCHW) and its labels.
using PixelVector = std::vector<float, HostAllocator<float>>;
using LabelVector = std::vector<int64_t, HostAllocator<int64_t>>;

}  // namespace lorasub
